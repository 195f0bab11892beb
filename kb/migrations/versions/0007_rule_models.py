"""Trained rule classifiers shared by every node (``rule_models``), so a joining node does not retrain them.

Revision ID: 0007_rule_models
Revises: 0006_remedial_quiz_key
Create Date: 2026-11-27

The table starts empty: the next build on any node trains and stores its model.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_rule_models'
down_revision = '0006_remedial_quiz_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_models',
    sa.Column('model_key', sa.String(length=64), nullable=False),
    sa.Column('rule_model', sa.LargeBinary(), nullable=False),
    sa.Column('rule_background', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('model_key', name=op.f('pk_rule_models'))
    )
    with op.batch_alter_table('rule_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_models_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rule_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_models_created_at'))
    op.drop_table('rule_models')

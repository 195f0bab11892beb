"""A remedial quiz is built once per agent, newest call and missed rules: ``training_quizzes.remedial_key`` unique.

Revision ID: 0006_remedial_quiz_key
Revises: 0005_live
Create Date: 2026-11-27

Existing quizzes keep NULL (not remedial, or built before the key existed); NULLs never collide.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006_remedial_quiz_key'
down_revision = '0005_live'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('training_quizzes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remedial_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_training_quizzes_remedial_key'), ['remedial_key'])


def downgrade() -> None:
    with op.batch_alter_table('training_quizzes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_training_quizzes_remedial_key'), type_='unique')
        batch_op.drop_column('remedial_key')

"""Shared state for several nodes: passage embeddings (``embeddings``) and the publish queue (``publish_events``).

Revision ID: 0004_shared_state
Revises: 0003
Create Date: 2026-11-27

Both tables start empty: the nodes fill ``embeddings`` from their local caches and their builds, and a node whose
index predates the publish queue builds once to record where it stands.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_shared_state'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('embeddings',
    sa.Column('model_id', sa.String(length=200), nullable=False),
    sa.Column('text_key', sa.String(length=64), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('model_id', 'text_key', name=op.f('pk_embeddings'))
    )
    op.create_table('publish_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('article_id', sa.String(length=80), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publish_events'))
    )


def downgrade() -> None:
    op.drop_table('publish_events')
    op.drop_table('embeddings')

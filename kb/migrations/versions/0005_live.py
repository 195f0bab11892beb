"""Live call mode: integration API tokens, live calls, their utterances and the events pushed to the sidebar.

Revision ID: 0005_live
Revises: 0004_shared_state
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_live'
down_revision = '0004_shared_state'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('live_calls',
    sa.Column('call_ref', sa.String(length=80), nullable=False),
    sa.Column('agent', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('call_ref', name=op.f('pk_live_calls'))
    )
    with op.batch_alter_table('live_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_calls_agent'), ['agent'], unique=False)

    op.create_table('live_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=80), nullable=False),
    sa.Column('call_ref', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_events'))
    )
    with op.batch_alter_table('live_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_events_agent'), ['agent'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_events_call_ref'), ['call_ref'], unique=False)

    op.create_table('live_utterances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_ref', sa.String(length=80), nullable=False),
    sa.Column('speaker', sa.String(length=10), nullable=False),
    sa.Column('offset_ms', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_ref'], ['live_calls.call_ref'], name=op.f('fk_live_utterances_call_ref_live_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_utterances')),
    sa.UniqueConstraint('call_ref', 'speaker', 'offset_ms', name=op.f('uq_live_utterances_call_ref_speaker_offset_ms'))
    )
    with op.batch_alter_table('live_utterances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_utterances_call_ref'), ['call_ref'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('live_utterances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_utterances_call_ref'))

    op.drop_table('live_utterances')
    with op.batch_alter_table('live_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_events_call_ref'))
        batch_op.drop_index(batch_op.f('ix_live_events_agent'))

    op.drop_table('live_events')
    with op.batch_alter_table('live_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_calls_agent'))

    op.drop_table('live_calls')
    op.drop_table('api_tokens')

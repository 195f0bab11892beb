"""Calls and votes stored once: ``call_records.client_id`` unique per agent, ``feedback.open_key`` unique per user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Existing call records get the client id the sidebar sent, which the upload kept in ``data``; a record without one,
or a second copy of a call stored twice before the constraint existed, gets ``legacy-<row id>`` so that every row
stays and the constraint holds. Existing votes are closed (``open_key`` NULL): they never merge with new ones.
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

calls = sa.table('call_records', sa.column('id', sa.Integer), sa.column('agent', sa.String),
                 sa.column('client_id', sa.String), sa.column('data', sa.JSON))


def _client_ids(rows) -> dict[int, str]:
    """Row id -> the client id to store: the uploaded one when it is usable and not taken, else a generated one."""
    taken, chosen = set(), {}
    for row_id, agent, data in rows:
        uploaded = data.get('client_id') if isinstance(data, dict) else None
        if isinstance(uploaded, str) and 0 < len(uploaded) <= 64 and (agent, uploaded) not in taken:
            chosen[row_id] = uploaded
        else:
            chosen[row_id] = f'legacy-{row_id}'
        taken.add((agent, chosen[row_id]))
    return chosen


def upgrade() -> None:
    with op.batch_alter_table('call_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(calls.c.id, calls.c.agent, calls.c.data).order_by(calls.c.id)).all()
    for row_id, client_id in _client_ids(rows).items():
        connection.execute(calls.update().where(calls.c.id == row_id).values(client_id=client_id))
    with op.batch_alter_table('call_records', schema=None) as batch_op:
        batch_op.alter_column('client_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_call_records_agent_client_id'), ['agent', 'client_id'])

    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_feedback_user_open_key'), ['user', 'open_key'])


def downgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_feedback_user_open_key'), type_='unique')
        batch_op.drop_column('open_key')
    with op.batch_alter_table('call_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_call_records_agent_client_id'), type_='unique')
        batch_op.drop_column('client_id')

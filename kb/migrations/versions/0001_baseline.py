"""Baseline: the schema as ``create_all()`` made it before migrations existed (commit 94db797).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

``articles.current_version_id`` and ``article_versions.article_id`` point at each other, so the first of the two
foreign keys is added once both tables exist.
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('article_drafts',
    sa.Column('article_id', sa.String(length=80), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('fields_json', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('article_id', name=op.f('pk_article_drafts'))
    )
    op.create_table('articles',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('current_version_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_articles'))
    )
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_articles_type'), ['type'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=120), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('call_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=False),
    sa.Column('wait_seconds', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_records'))
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user', sa.String(length=80), nullable=False),
    sa.Column('article_id', sa.String(length=80), nullable=False),
    sa.Column('heading', sa.String(length=300), nullable=False),
    sa.Column('query', sa.String(length=2000), nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_article_id'), ['article_id'], unique=False)

    op.create_table('suggest_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user', sa.String(length=80), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('normalized', sa.String(length=2000), nullable=False),
    sa.Column('result_count', sa.Integer(), nullable=False),
    sa.Column('top_score', sa.Float(), nullable=False),
    sa.Column('top_article_id', sa.String(length=80), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggest_log'))
    )
    with op.batch_alter_table('suggest_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggest_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggest_log_normalized'), ['normalized'], unique=False)

    op.create_table('training_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('article_id', sa.String(length=80), nullable=False),
    sa.Column('article_type', sa.String(length=20), nullable=False),
    sa.Column('article_title', sa.String(length=200), nullable=False),
    sa.Column('article_version', sa.Integer(), nullable=False),
    sa.Column('heading', sa.String(length=300), nullable=False),
    sa.Column('source_field', sa.String(length=10), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('edited', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=80), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_questions')),
    sa.UniqueConstraint('key', name=op.f('uq_training_questions_key'))
    )
    with op.batch_alter_table('training_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_questions_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_questions_family'), ['family'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_questions_status'), ['status'], unique=False)

    op.create_table('training_quizzes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('pass_mark', sa.Integer(), nullable=False),
    sa.Column('time_limit_minutes', sa.Integer(), nullable=True),
    sa.Column('feedback', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_quizzes'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('article_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.String(length=80), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('meta_json', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_versions_article_id_articles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_article_versions')),
    sa.UniqueConstraint('article_id', 'number', name=op.f('uq_article_versions_article_id_number'))
    )
    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_versions_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_article_versions_content_hash'), ['content_hash'], unique=False)
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_articles_current_version_id_article_versions'),
                                    'article_versions', ['current_version_id'], ['id'])

    op.create_table('training_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quiz_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('assigned_by', sa.String(length=80), nullable=False),
    sa.Column('assigned_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['quiz_id'], ['training_quizzes.id'], name=op.f('fk_training_assignments_quiz_id_training_quizzes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_assignments')),
    sa.UniqueConstraint('quiz_id', 'username', name=op.f('uq_training_assignments_quiz_id_username'))
    )
    with op.batch_alter_table('training_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_assignments_quiz_id'), ['quiz_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_assignments_username'), ['username'], unique=False)

    op.create_table('training_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quiz_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('deadline', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['quiz_id'], ['training_quizzes.id'], name=op.f('fk_training_attempts_quiz_id_training_quizzes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_attempts'))
    )
    with op.batch_alter_table('training_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_attempts_quiz_id'), ['quiz_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_attempts_username'), ['username'], unique=False)

    op.create_table('training_quiz_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quiz_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['question_id'], ['training_questions.id'], name=op.f('fk_training_quiz_items_question_id_training_questions')),
    sa.ForeignKeyConstraint(['quiz_id'], ['training_quizzes.id'], name=op.f('fk_training_quiz_items_quiz_id_training_quizzes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_quiz_items')),
    sa.UniqueConstraint('quiz_id', 'question_id', name=op.f('uq_training_quiz_items_quiz_id_question_id'))
    )
    with op.batch_alter_table('training_quiz_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_quiz_items_quiz_id'), ['quiz_id'], unique=False)

    op.create_table('training_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['training_attempts.id'], name=op.f('fk_training_answers_attempt_id_training_attempts')),
    sa.ForeignKeyConstraint(['item_id'], ['training_quiz_items.id'], name=op.f('fk_training_answers_item_id_training_quiz_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_answers')),
    sa.UniqueConstraint('attempt_id', 'item_id', name=op.f('uq_training_answers_attempt_id_item_id'))
    )
    with op.batch_alter_table('training_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_answers_attempt_id'), ['attempt_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('training_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_answers_attempt_id'))

    op.drop_table('training_answers')
    with op.batch_alter_table('training_quiz_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_quiz_items_quiz_id'))

    op.drop_table('training_quiz_items')
    with op.batch_alter_table('training_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_attempts_username'))
        batch_op.drop_index(batch_op.f('ix_training_attempts_quiz_id'))

    op.drop_table('training_attempts')
    with op.batch_alter_table('training_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_assignments_username'))
        batch_op.drop_index(batch_op.f('ix_training_assignments_quiz_id'))

    op.drop_table('training_assignments')
    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_versions_content_hash'))
        batch_op.drop_index(batch_op.f('ix_article_versions_article_id'))

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_articles_current_version_id_article_versions'), type_='foreignkey')
    op.drop_table('article_versions')
    op.drop_table('users')
    op.drop_table('training_quizzes')
    with op.batch_alter_table('training_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_questions_status'))
        batch_op.drop_index(batch_op.f('ix_training_questions_family'))
        batch_op.drop_index(batch_op.f('ix_training_questions_article_id'))

    op.drop_table('training_questions')
    with op.batch_alter_table('suggest_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggest_log_normalized'))
        batch_op.drop_index(batch_op.f('ix_suggest_log_at'))

    op.drop_table('suggest_log')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_article_id'))

    op.drop_table('feedback')
    op.drop_table('call_records')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_articles_type'))

    op.drop_table('articles')
    op.drop_table('article_drafts')

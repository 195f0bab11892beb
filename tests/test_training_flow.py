"""The question bank, quizzes, attempts and results on a real database (a private KB copy), with a fixed clock."""
import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

import kb.training  # noqa: F401
from kb.db import Database
from kb.store import publish, published_articles
from kb.training import attempts, quizzes, results
from kb.training import questions as bank
from kb.training.models import TrainingQuestion

T0 = dt.datetime(2026, 3, 2, 9, 0, 0)


@pytest.fixture
def db(kb_copy):
    database = Database(kb_copy.database_url)
    database.upgrade()
    return database


def _generate_and_approve(db, article_id="complaint-handling") -> list[int]:
    with db.session() as s:
        report = bank.generate(s, [article_id], "trainer1")
        for q in s.scalars(select(TrainingQuestion).where(TrainingQuestion.id.in_(report.created))):
            bank.approve(s, q, "trainer1")
        return report.created


def _publish_change(db, article_id, old, new):
    with db.session() as s:
        article = next(a for _, a in published_articles(s) if a.id == article_id)
        assert old in article.body
        result = publish(s, dataclasses.replace(article, body=article.body.replace(old, new)), "editor1", "edit")
        assert result.changed
        return result.version


def _quiz(db, ids, **settings):
    base = dict(title="投诉时限测验", pass_mark="60", time_limit="", feedback="each")
    base.update(settings)
    with db.session() as s:
        quiz = quizzes.save_quiz(s, quizzes.parse_settings(**base), ids, "trainer1")
        quizzes.publish(s, quiz, "trainer1")
        quizzes.assign(s, quiz, ["agent1"], "trainer1")
        return quiz.id


def test_generate_is_idempotent_and_keeps_trainer_decisions(db):
    created = _generate_and_approve(db)
    assert len(created) >= 10
    with db.session() as s:
        s.get(TrainingQuestion, created[0]).status = "dropped"
        again = bank.generate(s, ["complaint-handling"], "trainer1")
        assert again.created == [] and again.existing == len(created)
        assert s.get(TrainingQuestion, created[0]).status == "dropped"


def test_new_article_version_flags_questions_and_keeps_them_out_of_new_quizzes(db):
    created = _generate_and_approve(db)
    with db.session() as s:
        assert len(bank.usable(s)) == len(created)
    version = _publish_change(db, "complaint-handling", "登记后 30 分钟内上报质检部门", "登记后 20 分钟内上报质检部门")
    assert version == 2
    with db.session() as s:
        versions = bank.current_versions(s)
        flagged = [q for q in s.scalars(select(TrainingQuestion)) if bank.is_stale(q, versions)]
        assert len(flagged) == len(created)
        assert bank.usable(s) == []
        with pytest.raises(bank.TrainingError, match="需要重新审核"):
            quizzes.save_quiz(s, quizzes.parse_settings("测验", "80", "", "each"), created[:3], "trainer1")
        # Re-approval checks the question against version 2: unchanged facts pass, the changed one does not.
        kept = next(q for q in flagged if q.family == "fact" and q.answer == "10 分钟")
        bank.approve(s, kept, "trainer1")
        assert kept.article_version == 2 and not bank.is_stale(kept, versions)
        changed = next(q for q in flagged if q.family == "fact" and q.answer == "30 分钟"
                       and "登记后" in q.prompt)
        with pytest.raises(bank.TrainingError, match="找不到这道题的答案"):
            bank.approve(s, changed, "trainer1")
        assert [q.id for q in bank.usable(s)] == [kept.id]
    with db.session() as s:
        fresh = bank.generate(s, ["complaint-handling"], "trainer1")
        new_questions = [s.get(TrainingQuestion, i) for i in fresh.created]
        assert any(q.answer == "20 分钟" and q.article_version == 2 for q in new_questions)


def test_publishing_refuses_a_draft_whose_question_went_stale(db):
    created = _generate_and_approve(db)
    with db.session() as s:
        quiz = quizzes.save_quiz(s, quizzes.parse_settings("测验", "80", "", "end"), created[:4], "trainer1")
        quiz_id = quiz.id
    _publish_change(db, "complaint-handling", "一般投诉 7 个工作日内处理完毕", "一般投诉 5 个工作日内处理完毕")
    with db.session() as s:
        with pytest.raises(bank.TrainingError):
            quizzes.publish(s, s.get(quizzes.Quiz, quiz_id), "trainer1")


def test_settings_are_validated_with_clear_messages():
    with pytest.raises(bank.TrainingError, match="名称"):
        quizzes.parse_settings(" ", "80", "", "each")
    with pytest.raises(bank.TrainingError, match="及格线"):
        quizzes.parse_settings("t", "120", "", "each")
    with pytest.raises(bank.TrainingError, match="时间限制"):
        quizzes.parse_settings("t", "80", "abc", "each")
    with pytest.raises(bank.TrainingError, match="反馈"):
        quizzes.parse_settings("t", "80", "", "later")
    assert quizzes.parse_settings("t", " 70 ", "15", "end").time_limit_minutes == 15


def test_attempt_is_graded_and_the_deadline_is_enforced(db):
    created = _generate_and_approve(db)
    with db.session() as s:
        picked = [q.id for q in s.scalars(select(TrainingQuestion).where(TrainingQuestion.id.in_(created)))
                  if q.family in ("fact", "order")][:3]
    quiz_id = _quiz(db, picked, time_limit="5", pass_mark="60")
    with db.session() as s:
        quiz = s.get(quizzes.Quiz, quiz_id)
        attempt = attempts.start(s, quiz, "agent1", T0)
        assert attempt.deadline == T0 + dt.timedelta(minutes=5)
        assert attempts.start(s, quiz, "agent1", T0 + dt.timedelta(minutes=1)).id == attempt.id  # resumes
        item = attempts.next_item(attempt)
        snap = item.snapshot
        if snap["mode"] == "order":
            form = {f"pos-{i}": str(snap["answer"].index(o) + 1) for i, o in enumerate(snap["options"])}
        else:
            form = {"choice": str(snap["options"].index(snap["answer"]))}
        record = attempts.answer(s, attempt, item.id, form, T0 + dt.timedelta(minutes=2))
        assert record.correct
        with pytest.raises(bank.TrainingError, match="已经答过"):
            attempts.answer(s, attempt, item.id, form, T0 + dt.timedelta(minutes=3))
        late = attempts.next_item(attempt)
        with pytest.raises(bank.TrainingError, match="已经结束"):
            attempts.answer(s, attempt, late.id, {"choice": "0"}, T0 + dt.timedelta(minutes=5, seconds=1))
        assert attempt.finished_at is not None
        assert (attempt.correct, attempt.total, attempt.score, attempt.passed) == (1, 3, 33.3, False)
    with db.session() as s:
        data = results.results(s, quiz_id)
        agent = data.agents[0]
        assert (agent.username, agent.last_score, agent.passed, agent.correct, agent.answered) == \
            ("agent1", 33.3, False, 1, 3)
        assert sum(t.answered for t in data.questions) == 3
        assert data.articles[0].key == "complaint-handling" and data.articles[0].correct == 1
        csv_text = results.to_csv(data, "agents")
        assert csv_text.startswith("\ufeff账号") and "agent1" in csv_text and "33.3" in csv_text


def test_answers_are_parsed_and_graded():
    fill = {"mode": "fill", "options": [], "answer": "10 分钟"}
    assert all(attempts.grade(fill, r) for r in ("10 分钟", "10分钟", "１０ 分钟", "10"))
    assert not attempts.grade(fill, "30")
    order = {"mode": "order", "options": ["b", "c", "a"], "answer": ["a", "b", "c"]}
    assert attempts.parse_response(order, {"pos-0": "2", "pos-1": "3", "pos-2": "1"}) == ["a", "b", "c"]
    with pytest.raises(bank.TrainingError, match="不同的顺序号"):
        attempts.parse_response(order, {"pos-0": "1", "pos-1": "1", "pos-2": "2"})
    choice = {"mode": "choice", "options": ["x", "y"], "answer": "y"}
    for bad in ({}, {"choice": "9"}, {"choice": "x"}):
        with pytest.raises(bank.TrainingError, match="选择一个答案"):
            attempts.parse_response(choice, bad)


def test_trainer_edits_are_validated(db):
    created = _generate_and_approve(db)
    with db.session() as s:
        q = next(q for q in s.scalars(select(TrainingQuestion).where(TrainingQuestion.id.in_(created)))
                 if q.mode == "choice")
        with pytest.raises(bank.TrainingError, match="选项中的一项"):
            bank.edit(s, q, q.prompt, list(q.options), "不在选项里", "trainer1")
        with pytest.raises(bank.TrainingError, match="不能重复"):
            bank.edit(s, q, q.prompt, [q.answer, q.answer], q.answer, "trainer1")
        bank.edit(s, q, "改过的题干", list(q.options), q.answer, "trainer1")
        assert q.prompt == "改过的题干" and q.edited
        o = next(q for q in s.scalars(select(TrainingQuestion).where(TrainingQuestion.id.in_(created)))
                 if q.mode == "order")
        steps = list(o.answer)
        bank.edit(s, o, o.prompt, steps, None, "trainer1")
        assert o.answer == steps and sorted(o.options) == sorted(steps) and o.options != steps

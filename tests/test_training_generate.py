"""Question generation from the published content: answerable from the source, honest distractors, deterministic."""
import random
from collections import Counter
from decimal import Decimal

import pytest

from kb.db import Database
from kb.render import plain_text, quote_blocks
from kb.store import published_articles
from kb.training.generate import (
    CANONICAL_UNIT,
    FACT,
    Generator,
    extract_facts,
    section_text,
    short_heading,
    step_lists,
    yield_by_type,
)
from kb.training.questions import answerable


@pytest.fixture(scope="module")
def published(kb_shared):
    with Database(kb_shared.database_url).session() as s:
        return [(v.number, a) for v, a in published_articles(s)]


@pytest.fixture(scope="module")
def questions(published):
    return Generator(published).generate()


def _kind(text: str) -> str:
    unit = FACT.fullmatch(text).group(3)
    return CANONICAL_UNIT.get(unit, unit)


def test_every_family_is_generated_from_real_content(questions, published):
    families = Counter(q.family for q in questions)
    assert set(families) == {"fact", "disclosure", "next_step", "order", "script"}
    assert all(n >= 5 for n in families.values()), families
    report = yield_by_type(published, questions)
    assert set(report) == {"procedure", "product", "script", "disclosure", "escalation"}
    assert all(row["total"] > 0 for row in report.values())
    assert len({q.key for q in questions}) == len(questions)


def test_every_question_is_answerable_from_its_source_section(questions, published):
    articles = {a.id: (n, a) for n, a in published}
    for q in questions:
        number, article = articles[q.article_id]
        assert q.article_version == number and q.article_title == article.title
        source = section_text(article, q.heading, q.source_field)
        assert source == q.source_text, (q.article_id, q.heading)
        text = plain_text(source)
        if q.mode == "order":
            positions = [text.find(step) for step in q.answer]
            assert -1 not in positions and positions == sorted(positions), (q.article_id, q.heading)
        else:
            assert q.answer in text, (q.article_id, q.heading, q.answer)
        assert answerable(q.mode, q.answer, source)
        if q.family == "fact":  # the fact sits in its own sentence, not just somewhere in the section
            sentence = q.prompt[len(short_heading(q.heading)) + 1:]
            assert answerable(q.mode, q.answer, source, sentence), (q.article_id, q.prompt)


def test_fact_distractors_are_real_facts_of_the_same_unit(questions, published):
    facts = [f for _, a in published for f in extract_facts(a)]
    facts_by_value = {(f.kind, f.value): f for f in facts}
    fact_questions = [q for q in questions if q.family == "fact"]
    assert any(q.mode == "choice" for q in fact_questions) and any(q.mode == "fill" for q in fact_questions)
    for q in fact_questions:
        assert "____" in q.prompt and q.answer not in q.prompt.replace("____", "")
        if q.mode == "fill":
            assert q.options == ()
            continue
        assert q.options.count(q.answer) == 1 and len(set(q.options)) == len(q.options) >= 3
        kind = _kind(q.answer)
        for option in q.options:
            assert _kind(option) == kind, (q.answer, option)
            value = Decimal(FACT.fullmatch(option).group(1))
            if option != q.answer:
                assert value != Decimal(FACT.fullmatch(q.answer).group(1))
                # drawn from a fact of the same unit in another article or section
                source = facts_by_value[(kind, value)]
                others = [f for f in facts if f.kind == kind and f.value == value
                          and (f.article_id, f.heading) != (q.article_id, q.heading)]
                assert source and others, (q.answer, option)


def test_other_families_draw_distractors_from_their_own_kind(questions, published):
    says = {a.say for _, a in published if a.type == "disclosure"}
    steps = {s for _, a in published for sl in step_lists(a) for s in sl.steps}
    scripts = {}
    for _, a in published:
        if a.type == "script":
            for chunk in a.chunks():
                for block in quote_blocks(chunk.markdown):
                    scripts.setdefault(block, set()).add((a.id, chunk.heading))
    for q in questions:
        if q.family == "fact":
            continue
        if q.mode == "order":
            assert sorted(q.options) == sorted(q.answer) and list(q.options) != list(q.answer)
            continue
        assert q.options.count(q.answer) == 1 and len(set(q.options)) == len(q.options) >= 3
        distractors = [o for o in q.options if o != q.answer]
        if q.family == "disclosure":
            assert q.answer == dict((a.id, a.say) for _, a in published)[q.article_id]
            assert all(o in says for o in distractors)
        elif q.family == "next_step":
            assert all(o in steps for o in distractors)
        elif q.family == "script":
            assert all(o in scripts and (q.article_id, q.heading) not in scripts[o] for o in distractors)


def test_generation_is_deterministic(published):
    random.seed(1)
    first = Generator(published).generate()
    random.seed(2)
    reordered = list(reversed(published))
    second = Generator(reordered).generate()
    assert first == second
    only = Generator(published).generate({"complaint-handling"})
    assert only == [q for q in first if q.article_id == "complaint-handling"]


def test_changed_content_changes_its_questions(published):
    before = {q.key for q in Generator(published).generate({"complaint-handling"})}
    changed = []
    for number, article in published:
        if article.id == "complaint-handling":
            article = type(article)(**{**article.__dict__, "body": article.body.replace("30 分钟内", "20 分钟内")})
        changed.append((number, article))
    after = Generator(changed).generate({"complaint-handling"})
    assert any("20 分钟" in q.answer or "20 分钟" in q.prompt for q in after if q.family == "fact")
    assert {q.key for q in after} != before

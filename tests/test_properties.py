"""Property tests (hypothesis): the article parser, chunking, normalisation and tokenising never crash on any input.

Example counts are bounded so the file runs in seconds; under CI (CI=true) the examples are derandomised, so a run
never fails on a new random draw that a local run did not see — locally each run explores new inputs.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.articles import FENCE, HEADING, Article, ArticleError, parse_article, split_chunks
from kb.normalize import normalize, tokenize

CONTENT = Path(__file__).resolve().parent.parent / "content"
VALID = sorted(p.read_text(encoding="utf-8") for p in CONTENT.rglob("*.md") if p.name.lower() != "readme.md")

settings.register_profile("bounded", max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "300")), deadline=None, derandomize=bool(os.environ.get("CI")),
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bounded")

#: Values that have broken YAML front matter in other projects: dates out of range, anchors, tags, huge numbers.
YAML_VALUES = ["", "~", "null", "[]", "{}", "[a, b]", "[[a]]", "{a: 1}", "2027-02-30", "2027-13-01", "2027-06-30",
               "2027-06-30 12:00:00", "9999-12-31 23:59:59 +14:00", "1e999", ".inf", ".nan", "-1", "0", "true",
               "99999999999999999999999", "&a [*a]", "*nope", "!!binary aGk=", "!!python/object:os.system x",
               "!!set {a, b}", "!!timestamp 2001-12-14", "'", '"', "|", ">", "- a", "? a", "{clock: wait}",
               "{clock: wait, after_seconds: 600}", "{clock: call, after_seconds: -5}", "{clock: x, after_seconds: 1.5}",
               "流程", "procedure", "disclosure", "escalation", "x" * 200, "a-b", "UPPER"]
FIELDS = ["id", "title", "type", "tags", "aliases", "owner", "review_by", "sources", "triggers", "examples", "say",
          "steps", "timer", "unknown"]


def check_parse(text) -> None:
    try:
        article = parse_article(text, "prop.md")
    except ArticleError as exc:
        assert exc.message and exc.path == "prop.md"
        assert exc.line is None or exc.line >= 1
        return
    assert isinstance(article, Article) and article.id and article.title
    article.chunks()
    assert parse_article(article.to_markdown()).content_hash() == article.content_hash()  # round trip


@given(st.text(max_size=2000))
def test_parse_article_on_any_text(text):
    check_parse(text)
    check_parse("---\n" + text)


@given(st.binary(max_size=2000))
def test_parse_article_on_any_bytes(data):
    check_parse(data)
    check_parse(b"---\nid: x\n---\n" + data)


@given(st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(YAML_VALUES)), max_size=12),
       st.text(max_size=300))
def test_parse_article_on_odd_front_matter(pairs, body):
    front = "\n".join(f"{name}: {value}" for name, value in pairs)
    check_parse(f"---\n{front}\n---\n{body}")


@given(st.sampled_from(VALID), st.data())
def test_parse_article_on_mutated_valid_articles(text, data):
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 40)))
        kind = data.draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = data.draw(st.one_of(st.text(max_size=20), st.sampled_from(["---", "\n", ":", "- ", "#", "```",
                                                                           "\t", "\x00", "\ufeff", "\r"])))
        if kind == "delete":
            text = text[:start] + text[end:]
        elif kind == "insert":
            text = text[:start] + piece + text[start:]
        elif kind == "replace":
            text = text[:start] + piece + text[end:]
        else:
            text = text[:end] + text[start:end] + text[end:]
    check_parse(text)
    check_parse(text.encode("utf-8", "surrogatepass"))


def heading_lines(body: str) -> list[str]:
    """Lines split_chunks treats as headings (outside code fences)."""
    found, in_fence = [], False
    for line in body.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and HEADING.match(line):
            found.append(line)
    return found


LINES = st.one_of(st.text(max_size=40).map(lambda t: t.replace("\n", " ")),
                  st.sampled_from(["# 标题", "## 小节", "### 三级", "#### 四级", "#", "# ", "```", "~~~", "", "  ",
                                   "> 引用", "1. 步骤", "#标签", "## 结尾 ##"]))


@given(st.lists(LINES, max_size=40), st.text(max_size=20))
def test_split_chunks_loses_no_text(lines, title):
    body = "\n".join(lines)
    chunks = split_chunks("prop", title, body)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.markdown.strip() and c.heading_path for c in chunks)
    expected = Counter(line.strip() for line in body.split("\n") if line.strip())
    expected.subtract(line.strip() for line in heading_lines(body))
    expected = +expected
    kept = Counter(line.strip() for c in chunks for line in c.markdown.split("\n") if line.strip())
    assert kept == expected


@given(st.text(max_size=300))
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip() and "  " not in once


@given(st.text(max_size=300))
def test_tokenize_never_crashes(text):
    tokens = tokenize(normalize(text))
    assert all(isinstance(t, str) and t.strip() == t and t for t in tokens)

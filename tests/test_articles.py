"""Article parsing and validation: clear errors that name file, line and field; chunking by heading."""
from pathlib import Path

import pytest

from kb.articles import ArticleError, load_directory, parse_article, split_chunks

GOOD = """---
id: sample-article
title: 示例文章
type: procedure
tags: [示例]
aliases: [样例]
owner: 测试组
review_by: 2027-01-31
---
开头说明。
## 第一步
1. 做这个
## 常见问题
### 多久办好
三个工作日。
"""


def test_valid_article_parses_and_chunks_by_heading():
    article = parse_article(GOOD, "sample.md")
    assert article.id == "sample-article" and article.review_by.isoformat() == "2027-01-31"
    chunks = article.chunks()
    assert [c.heading_path for c in chunks] == [("示例文章",), ("第一步",), ("常见问题", "多久办好")]
    assert [c.position for c in chunks] == [0, 1, 2]
    assert chunks[2].markdown == "三个工作日。"


@pytest.mark.parametrize("text, line, field, words", [
    (GOOD.replace("tags: [示例]", "tags: [示例"), 6, None, "not valid YAML"),
    (GOOD.replace("type: procedure", "type: faq"), 4, "type", "not one of"),
    (GOOD.replace("id: sample-article", "id: Bad Id!"), 2, "id", "lower-case"),
    (GOOD.replace("title: 示例文章\n", ""), 1, "title", "required"),
    (GOOD.replace("review_by: 2027-01-31", "review_by: next year"), 8, "review_by", "not a date"),
    (GOOD.replace("---\nid", "id", 1), 1, None, "must start"),
    (GOOD.replace("review_by: 2027-01-31", "review_by: 2027-02-30"), 8, "review_by", "'2027-02-30' is not a valid date"),
    # YAML escapes let control characters through; they are refused in every front matter value.
    (GOOD.replace("tags: [示例]", 'tags: [示例, "坏\\x07标签"]'), 5, "tags", "control character U+0007"),
    (GOOD.replace("aliases: [样例]", 'aliases: ["样\\n例"]'), 6, "aliases", "control character U+000A"),
    (GOOD.replace("title: 示例文章", 'title: "示例\\u202e文章"'), 3, "title", "control character U+202E"),
    (GOOD.replace("owner: 测试组", 'owner: "测试\\x00组"'), 7, "owner", "control character U+0000"),
])
def test_malformed_front_matter_names_line_and_field(text, line, field, words):
    with pytest.raises(ArticleError) as info:
        parse_article(text, "content/bad.md")
    error = info.value
    assert error.path == "content/bad.md" and error.line == line and error.field == field
    assert words in str(error) and str(error).startswith(f"content/bad.md:{line}")


def test_rules_need_triggers_examples_and_words():
    rule = GOOD.replace("type: procedure", "type: disclosure")
    with pytest.raises(ArticleError, match="triggers"):
        parse_article(rule)
    rule += ""
    full = rule.replace("owner: 测试组", "owner: 测试组\ntriggers: [保本]\nexamples: [稳赚吗]\nsay: 理财非存款")
    assert parse_article(full).say == "理财非存款"
    escalation = full.replace("type: disclosure", "type: escalation").replace("say: 理财非存款",
                                                                            "steps: [记录, 上报]\ntimer: {clock: nap, after_seconds: 5}")
    with pytest.raises(ArticleError, match="clock must be"):
        parse_article(escalation)


def test_broken_utf8_is_reported_with_line():
    data = GOOD.encode("utf-8").replace("三个工作日".encode(), b"\xff\xfe bad")
    with pytest.raises(ArticleError, match="not valid UTF-8") as info:
        parse_article(data, "x.md")
    assert info.value.line == 15


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path):
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.md").write_text(GOOD.replace("type: procedure", "type: nope"), encoding="utf-8")
    (tmp_path / "dup.md").write_text(GOOD, encoding="utf-8")
    result = load_directory(tmp_path)
    assert [a.id for _, a in result.articles] == ["sample-article"]
    messages = sorted(str(e) for e in result.errors)
    assert any("bad.md:4" in m for m in messages)
    assert any("already used" in m for m in messages)


def test_headings_inside_code_fences_are_not_sections():
    chunks = split_chunks("a", "T", "## 一\n```\n## 不是标题\n```\n## 二\n内容")
    assert [c.heading for c in chunks] == ["一", "二"]

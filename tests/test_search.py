"""Hybrid search over the real content: normalisation, schema, snippets, modes, the article ranker."""
import json
from pathlib import Path

import pytest
import yaml

from kb.engine import MAX_QUERY_CHARS, QueryError
from kb.normalize import normalize, tokenize


def test_normalisation_meets_in_one_form():
    assert normalize("信用卡被盜刷了ＡＢＣ１２３") == "信用卡被盗刷了abc123"
    assert "挂失" in tokenize(normalize("掛失"))


def test_traditional_query_finds_simplified_article(kb):
    answers = kb.search("銀行卡丟了要怎麼掛失", k=3)
    assert answers[0]["article_id"] == "lost-card-freeze"


def test_answer_objects_follow_the_guide_schema(kb):
    answer = kb.search("信用卡账单日和还款日有什么区别", k=5)[0]
    for key, kind in (("article_id", str), ("title", str), ("type", str), ("heading", str), ("snippet", str),
                      ("text", str), ("score", float)):
        assert isinstance(answer[key], kind), key
    assert answer["type"] in ("procedure", "product", "script")
    assert answer["article_id"] == "credit-card-billing-dates"
    assert "<mark>" in answer["snippet"]


def test_snippet_escapes_html(kb):
    from kb.snippets import highlight
    assert highlight("<script>alert(1)</script> 挂失", ("挂失",)) == \
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>挂失</mark>"


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_every_mode_answers(kb, mode):
    answers = kb.search("手机银行登录不了", k=3, mode=mode)
    assert "mobile-banking-login" in [a["article_id"] for a in answers]


def test_empty_and_huge_queries(kb):
    assert kb.search("   ") == []
    assert kb.suggest("")["answers"] == []
    with pytest.raises(QueryError, match="limit"):
        kb.search("挂失" * MAX_QUERY_CHARS)


def test_asking_for_more_answers_keeps_the_first_ones(kb):
    """The dense scores are scaled against a fixed depth, so a bench asking for 50 results ranks the first five
    exactly as the sidebar asking for five does."""
    queries = [q["query"] for path in sorted((Path(__file__).parent / "queries").glob("*.yaml"))
               for q in yaml.safe_load(path.read_text(encoding="utf-8"))]
    for query in queries:
        few = [(a["chunk_id"], a["score"]) for a in kb.search(query, k=5)]
        many = [(a["chunk_id"], a["score"]) for a in kb.search(query, k=50)][:5]
        assert few == many, query


def test_hybrid_answers_come_in_the_article_rankers_order(kb):
    """The first tier is ordered by the article ranker's score (kb/rerank.py), not by any single chunk's."""
    from kb.rerank import article_scores
    from kb.search import Timings
    generation = kb.generation()
    for query in ("信用卡账单日和还款日有什么区别", "客户说理财亏了要投诉", "手机银行登录不了怎么办"):
        normalized, terms = kb._prepare(query, Timings())
        vector = kb.query_cache.get(normalized)
        depth = kb.params.candidates
        scores = article_scores(generation, generation.keyword(terms, depth), generation.vector(vector, depth), vector)
        ranked = [a["article_id"] for a in kb.search(query, k=5, per_article=1)]
        assert ranked == sorted(scores, key=lambda a: -scores[a])[:5], query


def test_ranker_weights_for_other_features_are_refused_clearly(tmp_path):
    from kb.rerank import FEATURES, ranker_weights
    stale = tmp_path / "ranker.json"
    stale.write_text(json.dumps({"features": list(FEATURES[:-1]), "weights": [1.0] * (len(FEATURES) - 1)}))
    with pytest.raises(RuntimeError, match="retrain with `make ranker`"):
        ranker_weights(stale)


def test_the_keyword_analyzer_cuts_line_by_line_as_it_would_the_whole_text():
    """The analyzer cuts each line alone (and caches it); over every content chunk that gives exactly the tokens
    of cutting the whole weighted text at once."""
    from indexer.build import chunk_records
    from kb.articles import parse_article
    from kb.keyword import chinese_analyzer, weighted_text
    analyzer = chinese_analyzer()
    checked = 0
    for path in sorted((Path(__file__).parent.parent / "content").rglob("*.md")):
        if path.name == "README.md":
            continue
        for record in chunk_records(1, parse_article(path.read_text(encoding="utf-8"))):
            text = weighted_text({"title": record["title"], "aliases": " ".join(record["aliases"]),
                                  "headings": record["heading"], "tags": " ".join(record["tags"]),
                                  "body": record["plain"]})
            assert [t.text for t in analyzer(text)] == tokenize(normalize(text)), record["heading"]
            checked += 1
    assert checked > 100

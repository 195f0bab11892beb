"""The knowledge content itself: every article valid and complete, and agents' real queries find the right article.

tests/queries/*.yaml hold agent-style queries (colloquial, some in traditional characters) with the article each must
find in the top 3; for a rule article, the rule must fire instead (rules are not answers).
"""
from pathlib import Path

import yaml

from kb.articles import load_directory
from tests.helpers import CONTENT

QUERIES = [q for path in sorted((Path(__file__).parent / "queries").glob("*.yaml"))
           for q in yaml.safe_load(path.read_text(encoding="utf-8"))]


def test_every_article_is_valid_and_complete():
    loaded = load_directory(CONTENT)
    assert loaded.errors == []
    articles = [a for _, a in loaded.articles]
    counts = {t: sum(a.type == t for a in articles) for t in ("procedure", "product", "script", "disclosure",
                                                               "escalation")}
    assert counts["procedure"] >= 20 and counts["product"] >= 12 and counts["script"] >= 12
    assert counts["disclosure"] >= 6 and counts["escalation"] >= 6
    for article in articles:
        assert article.tags and article.aliases and article.owner and article.review_by, article.id
        if article.is_rule:
            assert article.triggers and len(article.examples) >= 5, article.id
            assert article.say if article.type == "disclosure" else article.steps, article.id


def test_queries_cover_enough_and_name_real_articles():
    ids = {a.id for _, a in load_directory(CONTENT).articles}
    assert len(QUERIES) >= 40
    assert {q["expect"] for q in QUERIES} <= ids


def _found(kb, query: str, expect: str) -> bool:
    if expect in {rule["id"] for rule in kb.generation().rules}:
        result = kb.suggest(query)
        return expect in {r["id"] for r in result["disclosures"] + result["escalations"]}
    return expect in [a["article_id"] for a in kb.search(query, k=3, per_article=1)]


def test_agent_queries_find_their_article_in_top_3(kb):
    misses = [(q["query"], q["expect"]) for q in QUERIES if not _found(kb, q["query"], q["expect"])]
    hit_rate = 1 - len(misses) / len(QUERIES)
    print(f"agent queries: {len(QUERIES) - len(misses)}/{len(QUERIES)} in top 3 ({hit_rate:.1%})")
    assert hit_rate >= 0.95, misses

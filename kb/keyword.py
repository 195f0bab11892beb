"""Keyword search with Whoosh: a jieba analyzer over normalised text and separate, boosted fields.

The schema lives here (not in ``indexer``) because Whoosh pickles the analyzer into the index and the reader must be
able to import it.
"""
from __future__ import annotations

from whoosh import fields, query as wq, scoring
from whoosh.analysis import Token, Tokenizer

from .normalize import normalize, tokenize

FIELD_BOOSTS = {"title": 3.0, "aliases": 3.0, "headings": 2.0, "tags": 1.5, "body": 1.0}


class ChineseTokenizer(Tokenizer):
    """Normalise (NFKC, t2s, lower) then cut with jieba in search mode; positions are token order."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True, start_pos=0,
                 start_char=0, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, text in enumerate(tokenize(normalize(value))):
            token.text = token.original = text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos + pos
            yield token


def chinese_analyzer():
    return ChineseTokenizer()


def make_schema() -> fields.Schema:
    analyzer = chinese_analyzer()
    text = {name: fields.TEXT(analyzer=analyzer, field_boost=boost, phrase=False)
            for name, boost in FIELD_BOOSTS.items()}
    return fields.Schema(cid=fields.NUMERIC(int, bits=64, stored=True, unique=True, signed=False),
                         article_id=fields.ID(stored=True), type=fields.ID(stored=True), **text)


def build_query(terms: tuple[str, ...]) -> wq.Query | None:
    """An OR over every term in every text field; BM25F ranks documents matching more and rarer terms higher."""
    if not terms:
        return None
    clauses = [wq.Term(name, term) for term in terms for name in FIELD_BOOSTS]
    return wq.Or(clauses)


def weighting():
    return scoring.BM25F(B=0.75, K1=1.2)


__all__ = ["ChineseTokenizer", "make_schema", "build_query", "weighting", "FIELD_BOOSTS"]

"""Keyword search with Whoosh: a jieba analyzer over normalised text, BM25F over one weighted text field.

Title, aliases, headings, tags and body are weighted by repetition into one field: one posting list per query term
instead of five keeps the keyword stage fast at 50k chunks (bench/latency.py), and BM25 over weighted term
frequencies ranks like per-field boosts (bench/esun.py).

The schema lives here (not in ``indexer``) because Whoosh pickles the analyzer into the index and the reader must be
able to import it.
"""
from __future__ import annotations

from functools import lru_cache

from whoosh import fields, scoring
from whoosh import query as wq
from whoosh.analysis import Token, Tokenizer

from .normalize import normalize, tokenize

FIELD_WEIGHTS = {"title": 3, "aliases": 3, "headings": 2, "tags": 2, "body": 1}
# Query-time pruning (max-score style): terms are scored rarest first until their posting lists add up to this
# budget. Very common terms (银行 in a bank's FAQ) barely move BM25 scores but their long posting lists dominate
# query time in pure-Python Whoosh; the budget bounds the keyword stage at any corpus size (bench/latency.py).
POSTINGS_BUDGET = 1500


@lru_cache(maxsize=4096)
def line_tokens(line: str) -> tuple[str, ...]:
    """One line's tokens. The weighted text repeats its title, aliases and headings, and an article's chunks share
    their title, aliases and tags: cutting each distinct line once made the keyword index of a 50k-chunk build
    faster (bench/join_scale.py). Lines are cut alone because a newline separates words anyway (the same tokens
    as cutting the whole text, checked over every E.SUN and content chunk)."""
    return tuple(tokenize(normalize(line)))


class ChineseTokenizer(Tokenizer):
    """Normalise (NFKC, t2s, lower) then cut with jieba in search mode; positions are token order."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True, start_pos=0,
                 start_char=0, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, text in enumerate(t for line in value.split("\n") for t in line_tokens(line)):
            token.text = token.original = text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos + pos
            yield token


def chinese_analyzer():
    return ChineseTokenizer()


def make_schema() -> fields.Schema:
    return fields.Schema(cid=fields.NUMERIC(int, bits=64, stored=True, unique=True, signed=False),
                         article_id=fields.ID(stored=True), type=fields.ID(stored=True),
                         text=fields.TEXT(analyzer=chinese_analyzer(), phrase=False))


def weighted_text(parts: dict[str, str]) -> str:
    """The one indexed text: each part repeated by its weight (title ×3, aliases ×3, headings ×2, tags ×2, body)."""
    return "\n".join("\n".join([parts.get(name) or ""] * weight) for name, weight in FIELD_WEIGHTS.items())


def select_terms(terms: tuple[str, ...], doc_frequency) -> list[str]:
    """Query terms worth scoring: present in the index, rarest first while the postings stay within the budget
    (the rarest term is always kept)."""
    present = sorted((doc_frequency(term), position, term) for position, term in enumerate(terms))
    kept, postings = [], 0
    for df, _, term in present:
        if df == 0:
            continue
        if kept and postings + df > POSTINGS_BUDGET:
            break
        kept.append(term)
        postings += df
    return kept


def build_query(terms) -> wq.Query | None:
    """An OR over the terms; BM25F ranks documents matching more and rarer terms higher."""
    if not terms:
        return None
    return wq.Or([wq.Term("text", term) for term in terms])


def weighting():
    return scoring.BM25F(B=0.75, K1=1.2)

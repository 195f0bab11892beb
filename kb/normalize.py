"""Text normalisation and Chinese tokenisation shared by the index and the query.

Agents type simplified and traditional characters, full-width digits and mixed case; the index and the query must meet
in one form, so everything that is matched goes through :func:`normalize` first.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba
import opencc

DOMAIN_DICT = Path(__file__).with_name("data") / "domain_dict.txt"

# Function words and fillers that carry no topic; single CJK content characters (卡, 钱) are kept on purpose.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 嘛 么 哦 喔 哈 嗯 是 在 有 和 与 及 或 就 都 也 还 又 很 太 被 把 给 让 对 向 从 到 "
    "我 我要 你 您 他 她 它 我们 你们 他们 这 那 这个 那个 这些 那些 什么 怎么 怎么办 怎样 如何 为什么 哪 哪里 哪儿 "
    "可以 能 能不能 会 要 想 请问 请 一下 一个 个 上 下 里 中 吗? 之 其 该 等 如 若 则 而 但 且 所 以 "
    "a an the of to and or is are be in on for".split()
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"\s+")
_WORDLIKE = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]")

_converter = opencc.OpenCC("t2s")
jieba.setLogLevel(logging.WARNING)
_tokenizer_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def normalize(text: str) -> str:
    """NFKC, traditional → simplified, lower-case Latin, control characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    text = _converter.convert(text)
    return _SPACES.sub(" ", text.lower()).strip()


def _get_tokenizer() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                tok = jieba.Tokenizer()
                tok.initialize()
                tok.load_userdict(str(DOMAIN_DICT))
                _tokenizer = tok
    return _tokenizer


def tokenize(normalized_text: str) -> list[str]:
    """Search-mode jieba tokens of already-normalised text, stopwords and punctuation removed."""
    tokens = []
    for token in _get_tokenizer().cut_for_search(normalized_text):
        token = token.strip()
        if token and token not in STOPWORDS and _WORDLIKE.search(token):
            tokens.append(token)
    return tokens


@lru_cache(maxsize=8192)
def query_terms(normalized_text: str) -> tuple[str, ...]:
    """Distinct tokens of a normalised query, in order; cached because agents retype the same prefixes."""
    return tuple(dict.fromkeys(tokenize(normalized_text)))


def tokenize_phrase(normalized_text: str) -> list[str]:
    """The words of a short phrase in order (jieba's exact mode, nothing dropped): for matching phrases with gaps."""
    return [t for t in (w.strip() for w in tokenize_phrase_raw(normalized_text)) if t]


def tokenize_phrase_raw(normalized_text: str) -> list[str]:
    """jieba's exact-mode segmentation with every character kept (the pieces add up to the text)."""
    return list(_get_tokenizer().cut(normalized_text))

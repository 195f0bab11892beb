"""Highlighted snippets: the part of a section that best matches the query, HTML-escaped, terms in <mark>."""
from __future__ import annotations

import html
import re


def best_window(text: str, terms: tuple[str, ...], width: int = 90) -> tuple[int, int]:
    """Start/end of the ``width``-character window that covers the most distinct query terms."""
    lowered = text.lower()
    positions = sorted((m.start(), term) for term in terms for m in re.finditer(re.escape(term), lowered))
    if not positions or len(text) <= width:
        return 0, min(len(text), width)
    best, best_start = -1, 0
    for start, _ in positions:
        window_start = max(0, start - width // 4)
        covered = {term for pos, term in positions if window_start <= pos < window_start + width}
        score = sum(len(t) for t in covered)
        if score > best:
            best, best_start = score, window_start
    return best_start, min(len(text), best_start + width)


def highlight(text: str, terms: tuple[str, ...], width: int = 90) -> str:
    """A window of ``text`` around the query terms; everything escaped, matched terms wrapped in <mark>."""
    text = re.sub(r"\s+", " ", text).strip()
    start, end = best_window(text, terms, width)
    window = text[start:end]
    terms = tuple(sorted({t for t in terms if t}, key=len, reverse=True))
    if terms:
        pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
        parts, last = [], 0
        for match in pattern.finditer(window):
            parts.append(html.escape(window[last:match.start()]))
            parts.append(f"<mark>{html.escape(match.group(0))}</mark>")
            last = match.end()
        parts.append(html.escape(window[last:]))
        body = "".join(parts)
    else:
        body = html.escape(window)
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")

"""Markdown → sanitised HTML, the one renderer the sidebar, the editor preview and article pages share."""
from __future__ import annotations

import re

import markdown
import nh3

ALLOWED_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "del", "code",
                "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "mark",
                "span", "sup", "sub"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "span": {"class"}, "ol": {"start"}}


def render_markdown(text: str) -> str:
    """Render Markdown; raw HTML in the source is escaped or stripped by nh3, never passed through."""
    html = markdown.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer")


_MD_MARKUP = re.compile(r"(^\s{0,3}(>|#{1,6}|[-*+])\s?)|(\*\*|__|`|\[|\]\([^)]*\))", re.M)


def plain_text(text: str) -> str:
    """Markdown with its markup removed, for embeddings and snippets."""
    return _MD_MARKUP.sub("", text or "").strip()


def quote_blocks(text: str) -> list[str]:
    """The quote blocks of a section: in scripts these are the words to say (what the copy button copies)."""
    blocks, current = [], []
    for line in (text or "").split("\n"):
        if line.lstrip().startswith(">"):
            current.append(line.lstrip()[1:].strip())
        elif current:
            blocks.append("\n".join(current).strip())
            current = []
    if current:
        blocks.append("\n".join(current).strip())
    return [b for b in blocks if b]

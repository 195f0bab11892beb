"""Import FAQ files shaped ``{"<id>": [{"question": "...", "answers": ["..."]}]}`` as articles (one per id)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from .articles import ID_PATTERN, Article, ArticleError


def faq_articles(data: dict, prefix: str = "faq", article_type: str = "product") -> list[Article]:
    """One article per FAQ id: title = its first question, one ``##`` section per question/answer pair."""
    if not isinstance(data, dict):
        raise ArticleError("FAQ file must be a JSON object of id → list of {question, answers}")
    articles = []
    for key, pairs in data.items():
        article_id = f"{prefix}-{re.sub(r'[^a-z0-9-]+', '-', str(key).lower()).strip('-')}"
        if not ID_PATTERN.match(article_id):
            raise ArticleError(f"FAQ id {key!r} does not make a valid article id", field="id")
        if not isinstance(pairs, list) or not pairs:
            raise ArticleError(f"FAQ {key!r}: expected a non-empty list of question/answer pairs")
        sections = []
        for pair in pairs:
            question = str(pair.get("question", "")).strip().replace("\n", " ")
            answers = pair.get("answers") or []
            if isinstance(answers, str):
                answers = [answers]
            body = "\n\n".join(str(a).strip() for a in answers if str(a).strip())
            if question:
                sections.append(f"## {question}\n\n{body}")
        if not sections:
            raise ArticleError(f"FAQ {key!r}: no question has text")
        title = str(pairs[0].get("question", "")).strip().replace("\n", " ")[:120] or article_id
        articles.append(Article(id=article_id, title=title, type=article_type, body="\n\n".join(sections),
                                tags=["FAQ"], owner="FAQ import"))
    return articles


def load_faq_file(path: Path, prefix: str = "faq") -> list[Article]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArticleError(f"not a UTF-8 JSON file: {exc}", str(path)) from None
    return faq_articles(data, prefix)

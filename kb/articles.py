"""Article files: YAML front matter + Markdown body, validated, split into chunks by heading.

Validation errors name the file, the line and the field so an editor can fix them without guessing, and one bad file
never stops the others from importing (see :func:`load_directory`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ARTICLE_TYPES = ("procedure", "product", "script", "disclosure", "escalation")
# What agents, editors and trainers see for each type (the one source: pages and scripts get it from here).
TYPE_LABELS = {"procedure": "流程", "product": "产品", "script": "话术", "disclosure": "须告知", "escalation": "升级"}
ANSWER_TYPES = ("procedure", "product", "script")
RULE_TYPES = ("disclosure", "escalation")
TIMER_CLOCKS = ("wait", "call")
MAX_FILE_BYTES = 512 * 1024
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


class ArticleError(ValueError):
    """A problem in one article file, located by path, line and field."""

    def __init__(self, message: str, path: str = "<text>", line: int | None = None, field: str | None = None):
        self.message, self.path, self.line, self.field = message, str(path), line, field
        where = self.path + (f":{line}" if line else "")
        super().__init__(f"{where}: {('field ' + repr(field) + ': ') if field else ''}{message}")

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Chunk:
    """One section of an article: what the sidebar shows as one answer."""

    article_id: str
    position: int
    heading_path: tuple[str, ...]
    markdown: str

    @property
    def heading(self) -> str:
        return " › ".join(self.heading_path)


@dataclass
class Article:
    id: str
    title: str
    type: str
    body: str
    tags: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    owner: str = ""
    review_by: dt.date | None = None
    sources: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    counter_examples: list[str] = field(default_factory=list)  # rules: near-misses that must not fire it
    requires: list[str] = field(default_factory=list)  # answers: rule ids an answer from this article brings along
    questions: list[str] = field(default_factory=list)  # answers: how agents ask about it (teaches rules the ordinary)
    say: str = ""
    # disclosures, for detecting that the agent said it (kb/adherence.py): how agents say it, its key facts (each a
    # phrase or alternatives separated by 「|」), and phrases that say the opposite
    said_examples: list[str] = field(default_factory=list)
    said_facts: list[str] = field(default_factory=list)
    said_not: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    timer: dict | None = None

    @property
    def is_rule(self) -> bool:
        return self.type in RULE_TYPES

    def meta(self) -> dict:
        """Front matter as a JSON-friendly dict (what the database stores beside the body)."""
        data = {"id": self.id, "title": self.title, "type": self.type, "tags": self.tags, "aliases": self.aliases,
                "owner": self.owner, "review_by": self.review_by.isoformat() if self.review_by else None}
        if self.sources:
            data["sources"] = self.sources
        if self.requires:
            data["requires"] = self.requires
        if self.questions:
            data["questions"] = self.questions
        if self.is_rule:
            data.update(triggers=self.triggers, examples=self.examples)
            if self.counter_examples:
                data["counter_examples"] = self.counter_examples
            if self.type == "disclosure":
                data["say"] = self.say
                for name in SAID_FIELDS:
                    if getattr(self, name):
                        data[name] = getattr(self, name)
            else:
                data["steps"] = self.steps
                if self.timer:
                    data["timer"] = self.timer
        return data

    def content_hash(self) -> str:
        payload = json.dumps(self.meta(), ensure_ascii=False, sort_keys=True) + "\n" + self.body.strip()
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_markdown(self) -> str:
        front = yaml.safe_dump(self.meta(), allow_unicode=True, sort_keys=False, width=1000)
        return f"---\n{front}---\n{self.body.strip()}\n"

    def chunks(self) -> list[Chunk]:
        return split_chunks(self.id, self.title, self.body)


def _field_line(front_lines: list[str], name: str) -> int | None:
    for number, line in enumerate(front_lines, start=2):
        if re.match(rf"^{re.escape(name)}\s*:", line):
            return number
    return None


# Bidirectional overrides and isolates can make a tag or title display as something other than what it says.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Disclosure front matter that tells kb/adherence.py how the agent says it (optional lists of strings).
SAID_FIELDS = ("said_examples", "said_facts", "said_not")
_MULTILINE_FIELDS = ("say", "steps")


def _check_characters(name: str, value: str, err) -> str:
    """Refuse control characters in front matter values (line breaks and tabs only where a value may span lines)."""
    allowed = "\n\t" if name in _MULTILINE_FIELDS else ""
    for position, char in enumerate(value):
        if char in _BIDI_CONTROLS or (unicodedata.category(char) == "Cc" and char not in allowed):
            raise err(name, f"contains the control character U+{ord(char):04X} at position {position + 1} of "
                            f"{value[:40]!r}")
    return value


def _string_list(meta: dict, name: str, required: bool, err) -> list[str]:
    value = meta.get(name)
    if value is None:
        if required:
            raise err(name, "is required (a list, e.g. [a, b])")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise err(name, "must be a list of strings")
    items = [_check_characters(name, str(v).strip(), err) for v in value if str(v).strip()]
    if required and not items:
        raise err(name, "must not be empty")
    return items


def parse_article(text: str | bytes, path: str = "<text>") -> Article:
    """Parse and validate one article; raises :class:`ArticleError` saying what is wrong and where."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise ArticleError(f"file is {len(text)} bytes, the limit is {MAX_FILE_BYTES}", path)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            raise ArticleError(f"not valid UTF-8 (byte {exc.start})", path, line) from None
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ArticleError(f"article is larger than {MAX_FILE_BYTES} bytes", path)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ArticleError("must start with a '---' line opening the YAML front matter", path, 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ArticleError("front matter is not closed by a '---' line", path, 1) from None
    front_lines = lines[1:end]
    body = "\n".join(lines[end + 1:]).strip()
    try:
        meta = yaml.safe_load("\n".join(front_lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ArticleError(f"front matter is not valid YAML: {problem}", path, line) from None
    except ValueError as exc:  # YAML's own date parsing: review_by: 2027-02-30
        line = _field_line(front_lines, "review_by")
        value = front_lines[line - 2].split(":", 1)[1].strip() if line else ""
        raise ArticleError(f"{value!r} is not a valid date ({exc})" if line else f"invalid value: {exc}", path,
                           line, "review_by" if line else None) from None
    if not isinstance(meta, dict):
        raise ArticleError("front matter must be a mapping of field: value", path, 2)

    def err(name: str, message: str) -> ArticleError:
        return ArticleError(message, path, _field_line(front_lines, name) or 1, name)

    def required_str(name: str) -> str:
        value = meta.get(name)
        if value is None or not str(value).strip():
            raise err(name, "is required")
        if not isinstance(value, (str, int, float)):
            raise err(name, "must be a single value")
        return _check_characters(name, str(value).strip(), err)

    article_id = required_str("id")
    if not ID_PATTERN.match(article_id):
        raise err("id", f"{article_id!r} must be 2-80 lower-case ASCII letters, digits or '-'")
    title = required_str("title")
    if len(title) > 120:
        raise err("title", "is longer than 120 characters")
    article_type = required_str("type")
    if article_type not in ARTICLE_TYPES:
        raise err("type", f"{article_type!r} is not one of {', '.join(ARTICLE_TYPES)}")
    review_by = meta.get("review_by")
    if review_by is not None and not isinstance(review_by, dt.date):
        try:
            review_by = dt.date.fromisoformat(str(review_by))
        except ValueError:
            raise err("review_by", f"{review_by!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(review_by, dt.datetime):
        review_by = review_by.date()
    article = Article(
        id=article_id, title=title, type=article_type, body=body,
        tags=_string_list(meta, "tags", False, err), aliases=_string_list(meta, "aliases", False, err),
        owner=_check_characters("owner", str(meta.get("owner") or "").strip(), err), review_by=review_by,
        sources=_string_list(meta, "sources", False, err),
    )
    if article.is_rule:
        article.triggers = _string_list(meta, "triggers", True, err)
        article.examples = _string_list(meta, "examples", True, err)
        article.counter_examples = _string_list(meta, "counter_examples", False, err)
        if article_type == "disclosure":
            article.say = required_str("say")
            for name in SAID_FIELDS:
                setattr(article, name, _string_list(meta, name, False, err))
            for fact in article.said_facts:
                if any(not p.strip() for p in fact.split("|")):
                    raise err("said_facts", f"{fact!r} has an empty alternative: separate phrases by a single '|'")
        else:
            article.steps = _string_list(meta, "steps", True, err)
            article.timer = _parse_timer(meta.get("timer"), err)
    else:
        article.requires = _string_list(meta, "requires", False, err)
        article.questions = _string_list(meta, "questions", False, err)
        for rule_id in article.requires:
            if not ID_PATTERN.match(rule_id):
                raise err("requires", f"{rule_id!r} is not an article id (lower-case ASCII letters, digits, '-')")
    if not body and not article.is_rule:
        raise ArticleError("body is empty: write at least one section", path, end + 2)
    return article


def _parse_timer(value, err) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise err("timer", "must be a mapping like {clock: wait, after_seconds: 600}")
    clock, seconds = value.get("clock"), value.get("after_seconds")
    if clock not in TIMER_CLOCKS:
        raise err("timer", f"clock must be one of {', '.join(TIMER_CLOCKS)}")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        raise err("timer", "after_seconds must be a positive whole number")
    return {"clock": clock, "after_seconds": seconds}


def split_chunks(article_id: str, title: str, body: str) -> list[Chunk]:
    """Split a Markdown body at headings (#, ##, ###) outside code fences; each chunk keeps its heading path."""
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    current: list[str] = []
    in_fence = False

    def flush():
        text = "\n".join(current).strip()
        if text:
            heading_path = tuple(h for _, h in path) or (title,)
            chunks.append(Chunk(article_id, len(chunks), heading_path, text))
        current.clear()

    for line in body.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, match.group(2).strip())]
        else:
            current.append(line)
    flush()
    return chunks


@dataclass
class LoadResult:
    articles: list[tuple[Path, Article]]
    errors: list[ArticleError]


def load_directory(root: Path) -> LoadResult:
    """Parse every ``*.md`` under root except README files; collect errors instead of stopping at the first."""
    result = LoadResult([], [])
    seen: dict[str, Path] = {}
    for path in sorted(Path(root).rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            article = parse_article(path.read_bytes(), str(path))
        except ArticleError as exc:
            result.errors.append(exc)
            continue
        if article.id in seen:
            result.errors.append(ArticleError(f"id {article.id!r} is already used by {seen[article.id]}",
                                              str(path), 2, "id"))
            continue
        seen[article.id] = path
        result.articles.append((path, article))
    return result


def article_from_meta(meta: dict, body: str) -> Article:
    """Rebuild an Article from stored (already validated) front matter and body."""
    review_by = meta.get("review_by")
    return Article(
        id=meta["id"], title=meta["title"], type=meta["type"], body=body,
        tags=list(meta.get("tags") or []), aliases=list(meta.get("aliases") or []), owner=meta.get("owner") or "",
        review_by=dt.date.fromisoformat(review_by) if review_by else None, sources=list(meta.get("sources") or []),
        triggers=list(meta.get("triggers") or []), examples=list(meta.get("examples") or []),
        counter_examples=list(meta.get("counter_examples") or []), requires=list(meta.get("requires") or []),
        questions=list(meta.get("questions") or []),
        say=meta.get("say") or "", said_examples=list(meta.get("said_examples") or []),
        said_facts=list(meta.get("said_facts") or []), said_not=list(meta.get("said_not") or []), steps=list(meta.get("steps") or []), timer=meta.get("timer"),
    )

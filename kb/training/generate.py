"""Question generation from published articles: key facts, disclosures, next steps and ordering, scripts.

Every question names its article, version and section, and its correct answer is taken verbatim from that section
(or from the rule's ``say`` / ``steps``), so it is answerable from the source. Distractors are real facts of the same
kind from elsewhere in the knowledge base (the same unit, other disclosures, other steps, other scripts), never made
up and never equal to the answer. Randomness comes from a ``random.Random`` seeded with the article's content hash
and the question's own text, so the same content always yields the same questions.
"""
from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from kb.articles import Article
from kb.render import plain_text, quote_blocks

BLANK = "____"
MAX_CHOICES = 4
MIN_CHOICES = 3
MAX_ORDER_STEPS = 8
NEXT_STEP_PER_LIST = 3
STEPS_HEADING = "升级步骤"
SAY_HEADING = "必须告知的话"

# Units of the facts agents must know. Longer spellings come first so 「个工作日」 wins over 「日」.
UNITS = ("个工作日", "工作日", "个自然日", "自然日", "分钟", "小时", "秒钟", "秒", "天", "周岁", "岁", "个月", "年",
         "声", "亿元", "万元", "元", "%", "倍")
CANONICAL_UNIT = {"工作日": "个工作日", "自然日": "个自然日", "秒钟": "秒", "周岁": "岁"}
FACT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(\s*)(" + "|".join(re.escape(u) for u in UNITS) + ")")
ENUMERATION = re.compile(r"[、和或及与/]")
RANGE_BEFORE = re.compile(r"\d\s*(至|到|-|~|～|—)\s*$")
LIST_ITEM = re.compile(r"^\s*(\d+)[.、)]\s+(.+)$")
SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
# A numbered list under such a heading states rules or cases, not steps to take in order.
NOT_STEPS_HEADING = re.compile(r"不得|禁止|哪些|什么情况|一览")


@dataclass(frozen=True)
class Candidate:
    """A generated question before it is stored. ``answer`` is a string, or a tuple of steps for ordering."""

    key: str
    family: str
    mode: str
    article_id: str
    article_type: str
    article_title: str
    article_version: int
    heading: str
    source_field: str
    source_text: str
    prompt: str
    options: tuple[str, ...]
    answer: str | tuple[str, ...]
    unit: str = ""


@dataclass(frozen=True)
class Fact:
    article_id: str
    heading: str
    sentence: str
    text: str
    number: str
    sep: str
    unit: str

    @property
    def kind(self) -> str:
        return CANONICAL_UNIT.get(self.unit, self.unit)

    @property
    def value(self) -> Decimal:
        return Decimal(self.number)


@dataclass(frozen=True)
class StepList:
    article_id: str
    article_type: str
    heading: str
    source_field: str
    source_text: str
    steps: tuple[str, ...]


def _rng(article: Article, basis: str) -> random.Random:
    return seeded(f"{article.content_hash()}\n{basis}")


def _key(family: str, article_id: str, heading: str, basis: str, answer) -> str:
    answer_text = "\n".join(answer) if isinstance(answer, tuple) else answer
    payload = "\x1f".join((family, article_id, heading, basis, answer_text))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:40]


def sections(article: Article) -> list[tuple[str, str]]:
    """(heading, section Markdown) for every section of the body."""
    return [(chunk.heading, chunk.markdown) for chunk in article.chunks()]


def section_text(article: Article, heading: str, source_field: str = "body") -> str | None:
    """The text a question was generated from, in the given article version; None when that section is gone."""
    if source_field == "say":
        return article.say or None
    if source_field == "steps":
        return _steps_text(article.steps) if article.steps else None
    return next((md for h, md in sections(article) if h == heading), None)


def _steps_text(steps) -> str:
    return "\n".join(f"{n}. {s}" for n, s in enumerate(steps, start=1))


def _sentences(markdown: str) -> list[str]:
    found = []
    for line in plain_text(markdown).split("\n"):
        item = LIST_ITEM.match(line)
        line = (item.group(2) if item else line).strip()
        found.extend(s.strip() for s in SENTENCE_END.split(line) if len(s.strip()) >= 6)
    return found


def _enumerated(matches: list[re.Match], sentence: str) -> set[int]:
    """Indexes of facts listed side by side (「3 个月、6 个月、1 年」): one blank in a list has no single answer."""
    listed = set()
    for i in range(len(matches) - 1):
        between = sentence[matches[i].end():matches[i + 1].start()].strip()
        if len(between) <= 3 and ENUMERATION.search(between or "、"):
            listed.update((i, i + 1))
    return listed


def _blank(match: re.Match) -> str:
    """The blank that replaces a fact, spaced off the words around it (「后 ____ 内完成」)."""
    after = match.group(1)
    return BLANK + " " if after and not after.isspace() and not unicodedata.category(after).startswith("P") else BLANK


def extract_facts(article: Article) -> list[Fact]:
    """Sentences of the body that state a number with a unit (time limits, thresholds, amounts, rings)."""
    facts = []
    for heading, markdown in sections(article):
        for sentence in _sentences(markdown):
            matches = list(FACT.finditer(sentence))
            listed = _enumerated(matches, sentence)
            for i, match in enumerate(matches):
                number, sep, unit = match.groups()
                if i in listed or RANGE_BEFORE.search(sentence[:match.start()]):
                    continue
                if unit == "年" and Decimal(number) >= 1000:
                    continue  # a calendar year, not a duration
                facts.append(Fact(article.id, heading, sentence, match.group(0), number, sep, unit))
    return facts


def ordered_lists(markdown: str) -> list[tuple[str, ...]]:
    """Numbered lists (1. 2. 3. …) of a section, each as its items' plain text, in order."""
    lists, current, expected = [], [], 1
    for line in markdown.split("\n"):
        match = LIST_ITEM.match(line)
        if match and int(match.group(1)) == expected:
            current.append(plain_text(match.group(2)).strip().rstrip("。；;"))
            expected += 1
            continue
        if match and int(match.group(1)) == 1:
            lists.append(tuple(current))
            current, expected = [plain_text(match.group(2)).strip().rstrip("。；;")], 2
            continue
        if line.strip() and current:
            lists.append(tuple(current))
            current, expected = [], 1
    lists.append(tuple(current))
    return [items for items in lists if len(items) >= 3 and len(set(items)) == len(items)]


def _is_procedure(heading: str, steps: tuple[str, ...]) -> bool:
    """Steps to take in order, not a table of time limits (most items a fact) nor a list of rules."""
    facts = sum(1 for step in steps if FACT.search(step))
    return facts * 2 <= len(steps) and not NOT_STEPS_HEADING.search(short_heading(heading))


def step_lists(article: Article) -> list[StepList]:
    """Numbered procedure steps in sections, plus an escalation rule's ``steps``."""
    found = []
    for heading, markdown in sections(article):
        for steps in ordered_lists(markdown):
            if _is_procedure(heading, steps):
                found.append(StepList(article.id, article.type, heading, "body", markdown, steps))
    if article.type == "escalation" and len(article.steps) >= 3 and len(set(article.steps)) == len(article.steps):
        found.append(StepList(article.id, article.type, STEPS_HEADING, "steps", _steps_text(article.steps),
                              tuple(article.steps)))
    return found


def shuffle_steps(steps, rng: random.Random) -> list[str]:
    """The steps in an order that is never the right one (at least 2 distinct steps)."""
    shuffled = list(steps)
    while shuffled == list(steps):
        rng.shuffle(shuffled)
    return shuffled


def seeded(text: str) -> random.Random:
    """A private generator seeded by text: the same text always gives the same choices."""
    return random.Random(int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big"))


def short_heading(heading: str) -> str:
    return heading.split(" › ")[-1]


class Generator:
    """Builds questions for selected articles, drawing distractors from all published articles."""

    def __init__(self, published: list[tuple[int, Article]]):
        self.published = sorted(published, key=lambda pair: pair[1].id)
        self.facts = [f for _, a in self.published for f in extract_facts(a)]
        self.facts_by_kind: dict[str, list[Fact]] = defaultdict(list)
        for fact in self.facts:
            self.facts_by_kind[fact.kind].append(fact)
        self.lists = [s for _, a in self.published for s in step_lists(a)]
        self.says = [(a.id, a.say) for _, a in self.published if a.type == "disclosure" and a.say]
        self.scripts = [(a.id, h, blocks[0]) for _, a in self.published if a.type == "script"
                        for h, md in sections(a) if (blocks := quote_blocks(md))]

    def generate(self, article_ids: set[str] | None = None) -> list[Candidate]:
        questions: list[Candidate] = []
        for version, article in self.published:
            if article_ids is None or article.id in article_ids:
                questions.extend(self.for_article(version, article))
        return questions

    def for_article(self, version: int, article: Article) -> list[Candidate]:
        made: dict[str, Candidate] = {}
        builders = [self._fact_questions, self._step_questions]
        if article.type == "disclosure":
            builders.append(self._disclosure_questions)
        if article.type == "script":
            builders.append(self._script_questions)
        for build in builders:
            for question in build(version, article):
                made.setdefault(question.key, question)
        return list(made.values())

    def _candidate(self, version: int, article: Article, family: str, mode: str, heading: str, field: str,
                   source: str, prompt: str, options, answer, basis: str, unit: str = "") -> Candidate:
        return Candidate(_key(family, article.id, heading, basis, answer), family, mode, article.id, article.type,
                         article.title, version, heading, field, source, prompt, tuple(options), answer, unit)

    def _fact_questions(self, version: int, article: Article):
        seen = set()
        for fact in extract_facts(article):
            blanked = re.sub(r"(?<![\d.])" + re.escape(fact.text) + r"(?=(.?))", _blank, fact.sentence)
            if (blanked, fact.text) in seen:
                continue
            seen.add((blanked, fact.text))
            others = {}
            for other in self.facts_by_kind[fact.kind]:
                if (other.article_id, other.heading) != (fact.article_id, fact.heading) and other.value != fact.value:
                    others.setdefault(other.value, other.number)
            rng = _rng(article, f"fact\n{fact.heading}\n{blanked}\n{fact.text}")
            pool = [others[v] for v in sorted(others)]
            chosen = rng.sample(pool, min(MAX_CHOICES - 1, len(pool)))
            prompt = f"{short_heading(fact.heading)}：{blanked}"
            source = section_text(article, fact.heading)
            if len(chosen) + 1 < MIN_CHOICES:
                yield self._candidate(version, article, "fact", "fill", fact.heading, "body", source, prompt, (),
                                      fact.text, blanked, fact.unit)
                continue
            options = sorted([fact.text] + [f"{n}{fact.sep}{fact.unit}" for n in chosen],
                             key=lambda text: Decimal(FACT.match(text).group(1)))
            yield self._candidate(version, article, "fact", "choice", fact.heading, "body", source, prompt, options,
                                  fact.text, blanked, fact.unit)

    def _step_questions(self, version: int, article: Article):
        for step_list in step_lists(article):
            steps, heading = step_list.steps, step_list.heading
            where = f"「{article.title}」" + ("" if heading == STEPS_HEADING else f"›「{short_heading(heading)}」")
            if len(steps) <= MAX_ORDER_STEPS:
                shuffled = shuffle_steps(steps, _rng(article, "order\n" + heading + "\n" + "\n".join(steps)))
                yield self._candidate(version, article, "order", "order", heading, step_list.source_field,
                                      step_list.source_text, f"{where}：把下面的步骤按正确顺序排列。", shuffled,
                                      steps, "\n".join(steps))
            rng = _rng(article, "next\n" + heading + "\n" + "\n".join(steps))
            for i in sorted(rng.sample(range(len(steps) - 1), min(NEXT_STEP_PER_LIST, len(steps) - 1))):
                given, answer = steps[i], steps[i + 1]
                same_list = [s for j, s in enumerate(steps) if j not in (i, i + 1) and s != answer]
                elsewhere = sorted({s for other in self.lists if other is not step_list and
                                    other.article_type == article.type for s in other.steps} - set(steps))
                distractors = rng.sample(same_list, min(MAX_CHOICES - 1, len(same_list)))
                missing = MAX_CHOICES - 1 - len(distractors)
                distractors += rng.sample(elsewhere, min(missing, len(elsewhere)))
                if len(distractors) + 1 < MIN_CHOICES:
                    continue
                options = [answer] + distractors
                rng.shuffle(options)
                yield self._candidate(version, article, "next_step", "choice", heading, step_list.source_field,
                                      step_list.source_text, f"{where}：完成「{given}」之后，下一步是什么？",
                                      options, answer, given)

    def _disclosure_questions(self, version: int, article: Article):
        others = sorted({say for aid, say in self.says if aid != article.id and say != article.say})
        if not article.say or len(others) + 1 < MIN_CHOICES:
            return
        rng = _rng(article, "disclosure\n" + article.say)
        situation = rng.choice(sorted(article.examples)) if article.examples else article.title
        options = [article.say] + rng.sample(others, min(MAX_CHOICES - 1, len(others)))
        rng.shuffle(options)
        prompt = f"客户说：「{situation}」。按规定，你必须告诉客户什么？"
        yield self._candidate(version, article, "disclosure", "choice", SAY_HEADING, "say", article.say, prompt,
                              options, article.say, situation)

    def _script_questions(self, version: int, article: Article):
        for heading, markdown in sections(article):
            blocks = quote_blocks(markdown)
            if not blocks:
                continue
            answer = blocks[0]
            pool = sorted({quote for aid, h, quote in self.scripts
                           if (aid, h) != (article.id, heading) and quote not in blocks})
            rng = _rng(article, f"script\n{heading}\n{answer}")
            if len(pool) + 1 < MIN_CHOICES:
                continue
            options = [answer] + rng.sample(pool, min(MAX_CHOICES - 1, len(pool)))
            rng.shuffle(options)
            prompt = f"情境：{short_heading(heading)}（{article.title}）。下面哪一段话术最合适？"
            yield self._candidate(version, article, "script", "choice", heading, "body", markdown, prompt, options,
                                  answer, heading)


def yield_by_type(published: list[tuple[int, Article]], questions: list[Candidate]) -> dict[str, dict]:
    """Usable questions per article type: articles, total, per family and per-article average."""
    report: dict[str, dict] = {}
    for _, article in published:
        report.setdefault(article.type, {"articles": 0, "total": 0, "families": defaultdict(int)})["articles"] += 1
    for q in questions:
        report[q.article_type]["total"] += 1
        report[q.article_type]["families"][q.family] += 1
    return {t: {**r, "families": dict(r["families"]), "per_article": round(r["total"] / r["articles"], 1)}
            for t, r in sorted(report.items())}

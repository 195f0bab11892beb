"""Line diffs between two texts (article versions, drafts), with the changed characters inside a changed line marked.

The result is plain data (strings and kinds); templates escape every piece, so a diff of hostile text stays text.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass
class Line:
    kind: str                      # "equal", "delete" or "insert"
    old_no: int | None
    new_no: int | None
    segments: list[tuple[bool, str]]  # (changed?, text): changed characters are highlighted inside the line

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.segments)


@dataclass
class Hunk:
    old_start: int
    new_start: int
    lines: list[Line] = field(default_factory=list)


@dataclass
class Diff:
    hunks: list[Hunk]
    added: int
    removed: int

    @property
    def same(self) -> bool:
        return not self.hunks


def _inline(old: str, new: str) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]]:
    """Character-level difference of one replaced line (Chinese has no spaces, so words are no use)."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    old_parts, new_parts = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if i2 > i1:
            old_parts.append((tag != "equal", old[i1:i2]))
        if j2 > j1:
            new_parts.append((tag != "equal", new[j1:j2]))
    # When the lines share little, marking every character is noise: mark the whole line instead.
    if matcher.ratio() < 0.4:
        return [(False, old)], [(False, new)]
    return old_parts, new_parts


def diff_texts(old: str, new: str, context: int = 3) -> Diff:
    """Hunks of changed lines with ``context`` unchanged lines around them."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks: list[Hunk] = []
    added = removed = 0
    for group in matcher.get_grouped_opcodes(context):
        if all(tag == "equal" for tag, *_ in group):
            continue  # identical texts still yield one all-equal group
        hunk = Hunk(group[0][1] + 1, group[0][3] + 1)
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunk.lines += [Line("equal", i + 1, j + 1, [(False, a[i])])
                               for i, j in zip(range(i1, i2), range(j1, j2))]
                continue
            olds, news = a[i1:i2], b[j1:j2]
            removed += len(olds)
            added += len(news)
            pairs = min(len(olds), len(news)) if tag == "replace" else 0
            inline = [_inline(olds[k], news[k]) for k in range(pairs)]
            hunk.lines += [Line("delete", i1 + k + 1, None, inline[k][0] if k < pairs else [(False, line)])
                           for k, line in enumerate(olds)]
            hunk.lines += [Line("insert", None, j1 + k + 1, inline[k][1] if k < pairs else [(False, line)])
                           for k, line in enumerate(news)]
        hunks.append(hunk)
    return Diff(hunks, added, removed)

"""Adherence: does the matcher tick a disclosure when the agent says it, and only then?

Run: .venv/bin/python bench/adherence.py [--split blind6|blind5|blind4|blind3|blind2|blind|test|tuning|tuning+test] [--sweep]  (or `make adherence`)

Data (bench/adherence_eval/<rule-id>.yaml, fixed in the repository, written for this benchmark only): per disclosure
rule, agent lines that say it (`said`: formal script, colloquial, abbreviated, speech-recogniser output without
punctuation and with a homophone slip, split over two sentences) and near-misses that must not tick it (`not_said`:
the opposite, the topic without the obligation, a question to the customer, a negation, another disclosure). Each
line is scored against every disclosure rule (the hardest case: all of them required), so a line ticking the wrong
rule is a false tick of that rule. Weights and the threshold are chosen on the tuning split (``--split tuning
--sweep``); the figures to report come from the newest blind split, the default. A blind split (16 + 16 lines a
rule) is written by someone who has seen only each rule's `say` text and the standard of what counts as said: not
the matcher, not the rules' said_* lists, not the other splits; it is run once, after the changes it measures. Its
errors, once read, make it seen data: ``blind`` and ``blind2`` were read after their first runs, ``blind3`` after
its first totals and a later rerun, ``blind4`` and ``blind5`` in the release that wrote ``blind6`` (lines that
repeat another split or the content were dropped: 7, 4, 12, 8 and 26). The test split was looked at while two
negation bugs were fixed, so it is seen data too, like tuning (``--split tuning+test`` for both). Both had counted
part of a disclosure as said (half a cooling-off or wealth disclosure, an identity check without how, a refusal of
a product above the customer's level without "take the assessment yourself"); those 33 lines are now near-misses
(``partial``), the standard every blind writer was given. The product
learns nothing from this data.

Last line: ``adherence: precision=.. recall=..``
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, remove, temp_settings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.adherence import MatchParams, decide, evidence  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.store import import_directory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "adherence_eval"
CONTENT = ROOT / "content"
SPLITS = ("tuning", "test", "blind", "blind2", "blind3", "blind4", "blind5", "blind6", "tuning+test")
BLIND = ("blind", "blind2", "blind3", "blind4", "blind5", "blind6")
PRECISION_GOAL = 0.97


@dataclass
class Case:
    text: str
    rule: str            # the file's rule
    kind: str            # register (said) or near-miss kind (not_said)
    expected: set[str]   # rules this line says


def load_cases(split: str) -> list[Case]:
    cases = []
    for path in sorted(DATA.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule = data["rule"]
        for part in (data[name] for name in split.split("+")):
            for kind, text in part["said"]:
                cases.append(Case(text, rule, kind, {rule}))
            for kind, text in part["not_said"]:
                other = kind.split(":", 1)[1] if kind.startswith("other:") else None
                cases.append(Case(text, rule, kind.split(":")[0], {other} if other else set()))
    return cases


def counts(cases, found, params: MatchParams):
    """Per rule: true ticks, false ticks, misses; and the list of errors."""
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    errors = []
    for case, items in zip(cases, found):
        decided = {s.rule_id: s for s in decide(items, params)}
        ticked = {rid for rid, s in decided.items() if s.score >= params.threshold}
        for rid in ticked:
            if rid in case.expected:
                tp[rid] += 1
            else:
                fp[rid] += 1
                errors.append(("false tick", rid, decided[rid].score, case))
        for rid in case.expected - ticked:
            fn[rid] += 1
            errors.append(("miss", rid, decided[rid].score if rid in decided else 0.0, case))
    return tp, fp, fn, errors


def ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def totals(tp, fp, fn) -> tuple[float, float]:
    t, f, m = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return ratio(t, t + f), ratio(t, t + m)


def sweep(cases, found) -> MatchParams:
    """The grid points with the best recall among those meeting the precision goal (then the best precision); of
    those tied, the widest rival margin (two disclosures in one sentence both tick), then the middle threshold of
    the tied ones for that margin (a point inside the good region rather than on its edge)."""
    scored = []
    grid = itertools.product((0.75, 0.78, 0.8, 0.82), (0.92, 0.95), (0.3, 0.4, 0.5, 0.6, 0.7),
                             [x / 100 for x in range(30, 91, 5)], (0.0, 0.02, 0.03, 0.05, 1.0),
                             (0.0, 0.5, 0.6, 0.75, 1.0))
    for floor, ceil, weight, threshold, margin, min_coverage in grid:
        params = MatchParams(floor, ceil, weight, threshold, margin, min_coverage)
        precision, recall = totals(*counts(cases, found, params)[:3])
        scored.append(((precision >= PRECISION_GOAL, recall, precision), params))
    top = max(key for key, _ in scored)
    tied = [p for key, p in scored if key == top]
    margin = max(p.rival_margin for p in tied)
    tied = [p for p in tied if p.rival_margin == margin]
    def shape_of(p: MatchParams):
        return p.sim_floor, p.sim_ceil, p.sim_weight, p.min_coverage

    shape = max(map(shape_of, tied), key=lambda s: sum(1 for p in tied if shape_of(p) == s))
    thresholds = sorted(p.threshold for p in tied if shape_of(p) == shape)
    floor, ceil, weight, min_coverage = shape
    best = MatchParams(floor, ceil, weight, thresholds[len(thresholds) // 2], margin, min_coverage)
    print(f"sweep: {len(tied)} grid points tie at precision={top[2]:.3f} recall={top[1]:.3f}; thresholds "
          f"{thresholds[0]:.2f}-{thresholds[-1]:.2f} for the most common shape; chosen {best}")
    return best


def open_kb(data_dir: str | None) -> tuple[KnowledgeBase, Settings | None]:
    """An existing built KB (``--data-dir``, for quick reruns) or a fresh one from content/ (removed afterwards)."""
    if data_dir:
        settings = Settings.from_env(data_dir=data_dir, database_url=f"sqlite:///{Path(data_dir) / 'kb.sqlite'}")
        return KnowledgeBase(settings), None
    settings = temp_settings("adherence")
    db = Database(settings.database_url)
    report = import_directory(db, CONTENT)
    if report.errors:
        raise SystemExit("\n".join(str(e) for e in report.errors))
    build_index(settings, db, incremental=False)
    db.engine.dispose()
    return KnowledgeBase(settings), settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=SPLITS, default="blind6")
    parser.add_argument("--sweep", action="store_true", help="choose the parameters on this split (tuning only)")
    parser.add_argument("--data-dir", help="use this already built KB instead of building one from content/")
    parser.add_argument("--errors", type=int, default=12, metavar="N",
                        help="list the N worst errors (reading a blind split's errors makes it seen data)")
    args = parser.parse_args()
    if args.sweep and args.split in BLIND:
        raise SystemExit("--sweep chooses parameters: run it on --split tuning (or tuning+test), never on a blind split the figures come from")
    kb, temp = open_kb(args.data_dir)
    try:
        run(kb, args)
    finally:
        if temp is not None:
            remove(temp)


def run(kb: KnowledgeBase, args) -> None:
    cases = load_cases(args.split)
    rule_ids = [r["id"] for r in kb.generation().rules if r["type"] == "disclosure"]
    found, times = [], []
    for case in cases:
        started = time.perf_counter()
        found.append(evidence(kb, case.text, rule_ids))
        times.append(1000 * (time.perf_counter() - started))
    params = sweep(cases, found) if args.sweep else MatchParams()
    tp, fp, fn, errors = counts(cases, found, params)
    said = sum(1 for c in cases if c.expected == {c.rule})
    print(f"split={args.split} lines={len(cases)} said={said} near_misses={len(cases) - said} "
          f"rules={len(rule_ids)} ms_per_line_p50={percentile(times, 50):.1f} p95={percentile(times, 95):.1f} "
          f"(first sight of each line, all rules, this machine under its current load)")
    print(f"{'rule':40s} {'precision':>9s} {'recall':>7s} {'ticks':>5s} {'false':>5s} {'missed':>6s}")
    for rid in sorted(rule_ids):
        print(f"{rid:40s} {ratio(tp[rid], tp[rid] + fp[rid]):9.2f} {ratio(tp[rid], tp[rid] + fn[rid]):7.2f} "
              f"{tp[rid] + fp[rid]:5d} {fp[rid]:5d} {fn[rid]:6d}")
    by_kind = defaultdict(lambda: [0, 0])
    for what, _, _, case in errors:
        by_kind[(what, case.kind)][0] += 1
    print("errors by kind: " + (", ".join(f"{w} {k}={n[0]}" for (w, k), n in sorted(by_kind.items())) or "none"))
    print("worst confusions:")
    worst = sorted(errors, key=lambda e: -e[2] if e[0] == "false tick" else e[2])
    for what, rid, score, case in worst[:args.errors]:
        print(f"  {what:10s} {rid:38s} {score:.2f} [{case.rule} {case.kind}] {case.text}")
    precision, recall = totals(tp, fp, fn)
    print(f"ticks={sum(tp.values()) + sum(fp.values())} false_ticks={sum(fp.values())} missed={sum(fn.values())} "
          f"precision={precision:.3f} recall={recall:.3f}")
    print(f"adherence: precision={precision:.2f} recall={recall:.2f}")


if __name__ == "__main__":
    main()

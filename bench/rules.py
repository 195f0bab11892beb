"""Compliance prompts on wordings the rules never saw: recall on held-out positives, false alarms on benign speech.

Run: .venv/bin/python bench/rules.py [--split test|validation] [--data ../shared/bench/esun-faq]  (or `make rules`)

Data (bench/rules_eval/, fixed in the repository):
- ``positives/<rule-id>.yaml``: utterances that need the rule, in the registers agents type (customer's words, the
  agent's note, traditional characters, typos and homophones, half-typed fragments), split validation / test;
- ``benign-*.yaml``: everyday agent utterances across products and procedures that need no escalation, each labelled
  with the disclosures it does need, many of them near-misses of a rule, split validation / test.
The train split of both lives in the content itself (rule ``examples`` and ``counter_examples``, answer articles'
``questions``): that is all the engine learns from. Thresholds are chosen on the validation split (``--split
validation``); the figures to report come from the test split, the default. The 1,624 E.SUN questions
(../shared/bench/esun-faq, external) are ordinary bank questions: every escalation on one is false. Nothing in the
product learns from them; this script only reads them.

Also measured: what typing does. The sidebar raises prompts only from text the agent settled on (a pause or Enter);
each benign utterance is typed character by character, the agent pausing at every punctuation mark, and an escalation
raised by such a settled prefix but not by the whole utterance counts as prefix-only (goal 0). For comparison, the
same count over every character prefix is what a sidebar that prompted on unsettled text would have raised.

Last line: ``rules: disclosure_recall=.. escalation_recall=.. esun_false_escalation=.. benign_false_escalation=..
benign_false_disclosure=..``
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED, remove, temp_settings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.normalize import normalize  # noqa: E402
from kb.rules import RuleSettings  # noqa: E402
from kb.store import import_directory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "rules_eval"
CONTENT = ROOT / "content"
SPLITS = ("validation", "test")
PAUSE_AFTER = re.compile(r"[，,。.？?！!；;、\s]")


@dataclass
class Case:
    text: str
    split: str
    expected: set[str]                 # rule ids this utterance needs (a positive's rule, its `also`, benign labels)
    rule: str | None = None            # a positive's own rule
    register: str = ""
    near_miss: str | None = None
    fired: dict[str, dict] = field(default_factory=dict)


def load_cases(data: Path = DATA) -> tuple[list[Case], list[Case]]:
    """Positives and benign utterances of every split in the data folder."""
    positives, benign = [], []
    for path in sorted((data / "positives").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for split in SPLITS:
            for item in spec.get(split) or []:
                positives.append(Case(item["text"], split, {spec["rule"], *(item.get("also") or [])},
                                      rule=spec["rule"], register=item.get("register", "")))
    for path in sorted(data.glob("benign-*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for split in SPLITS:
            for item in spec.get(split) or []:
                benign.append(Case(item["text"], split, set(item.get("disclosures") or []),
                                   register=item.get("register", ""), near_miss=item.get("near_miss")))
    return positives, benign


def leak_key(text: str) -> str:
    """What counts as the same utterance: normalised, punctuation and spaces ignored."""
    return re.sub(r"[\W_]+", "", normalize(text))


def content_texts(kb: KnowledgeBase) -> set[str]:
    """Every text the engine learns from (as leak keys): held-out cases must not be among them."""
    generation = kb.generation()
    texts = [q for info in generation.manifest["articles"].values() for q in info.get("questions", [])]
    for rule in generation.rules:
        texts += [*rule["examples"], *rule["aliases"], *rule["triggers"], *rule.get("counter_examples", [])]
    return {leak_key(t) for t in texts}


def fire(kb: KnowledgeBase, text: str) -> dict[str, dict]:
    result = kb.suggest(text)
    return {r["id"]: r for r in result["disclosures"] + result["escalations"]}


def ratio(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def settled_prefixes(text: str) -> list[str]:
    """The texts an agent typing ``text`` settles on before the end: up to each punctuation mark or space."""
    return [text[:m.start()].strip() for m in PAUSE_AFTER.finditer(text) if text[:m.start()].strip()
            and text[:m.start()].strip() != text.strip()]


def prefix_escalations(kb: KnowledgeBase, cases: list[Case], escalation_ids: set[str]) -> tuple[int, int, int]:
    """Escalations that only a prefix raised, over ``cases`` typed with a pause at every punctuation mark:
    (shown at the end, as the sidebar keeps them; shown for a while before the whole text withdrew them; what a
    sidebar prompting on every unsettled character prefix would have raised)."""
    at_end = transient = every = 0
    for case in cases:
        whole = {rid for rid in case.fired if rid in escalation_ids}
        shown, ever = sidebar_prompts(kb, settled_prefixes(case.text) + [case.text.strip()], escalation_ids)
        at_end += len(shown - whole)
        transient += len(ever - whole)
        seen_any = set()
        for end in range(1, len(case.text)):
            seen_any |= {rid for rid in fire(kb, case.text[:end]) if rid in escalation_ids} - whole
        every += len(seen_any)
    return at_end, transient, every


def sidebar_prompts(kb: KnowledgeBase, settled: list[str], kinds: set[str]) -> tuple[set[str], set[str]]:
    """The sidebar's rule for settled texts (webapp/static/js/sidebar/rules.js, mergeRules): a new settled text adds
    what it raises and withdraws what an earlier text it continues raised but it does not. Returns (shown at the end,
    ever shown)."""
    shown: dict[str, str] = {}  # rule id → the text that raised it
    ever: set[str] = set()
    for text in settled:
        fired = {rid for rid in fire(kb, text) if rid in kinds}
        for rid, raised_by in list(shown.items()):
            if text != raised_by and text.startswith(raised_by) and rid not in fired:
                del shown[rid]
        for rid in fired:
            shown.setdefault(rid, text)
        ever |= fired
    return set(shown), ever


def report(kb: KnowledgeBase, split: str, esun_questions: list[str], typing: bool) -> str:
    positives, benign = load_cases()
    positives = [c for c in positives if c.split == split]
    benign = [c for c in benign if c.split == split]
    rules = {r["id"]: r for r in kb.generation().rules}
    escalation_ids = {rid for rid, r in rules.items() if r["type"] == "escalation"}
    seen = content_texts(kb)
    leaked = [c.text for c in positives + benign if leak_key(c.text) in seen]
    if leaked:
        raise SystemExit(f"{len(leaked)} held-out utterances are in the rules' own content, e.g. {leaked[:3]}")
    started = time.perf_counter()
    for case in positives + benign:
        case.fired = fire(kb, case.text)
    print(f"# {split}: {len(positives)} positives, {len(benign)} benign utterances "
          f"({time.perf_counter() - started:.0f} s)")

    # per rule: recall on its positives, precision over everything in the split
    print(f"{'rule':40s} {'recall':>7s} {'n':>4s} {'precision':>9s} {'fired':>5s}")
    found = Counter()
    for rid in sorted(rules):
        own = [c for c in positives if c.rule == rid]
        fired_on = [c for c in positives + benign if rid in c.fired]
        right = sum(rid in c.expected for c in fired_on)
        found[rid] = sum(rid in c.fired for c in own)
        print(f"{rid:40s} {ratio(found[rid], len(own)):7.2f} {len(own):4d} {ratio(right, len(fired_on)):9.2f} "
              f"{len(fired_on):5d}")
    by_register = defaultdict(lambda: [0, 0])
    for case in positives:
        by_register[case.register][0] += case.rule in case.fired
        by_register[case.register][1] += 1
    print("recall by register: " + ", ".join(f"{reg or '-'} {h}/{n}" for reg, (h, n) in sorted(by_register.items())))

    disclosure_pos = [c for c in positives if c.rule not in escalation_ids]
    escalation_pos = [c for c in positives if c.rule in escalation_ids]
    disclosure_recall = ratio(sum(c.rule in c.fired for c in disclosure_pos), len(disclosure_pos))
    escalation_recall = ratio(sum(c.rule in c.fired for c in escalation_pos), len(escalation_pos))
    needs = [(c, rid) for c in benign for rid in c.expected]
    print(f"disclosures needed by benign utterances: {sum(rid in c.fired for c, rid in needs)}/{len(needs)} raised")
    false_escalation = [c for c in benign if escalation_ids & set(c.fired)]
    false_disclosure = [c for c in benign if set(c.fired) - escalation_ids - c.expected]
    near = [c for c in benign if c.near_miss]
    print(f"near-misses: {sum(c.near_miss in c.fired for c in near)}/{len(near)} raised the rule they resemble")

    print("worst offenders (rule fired on an utterance that does not need it):")
    offenders = Counter()
    examples = defaultdict(list)
    for case in positives + benign:
        for rid, fired in case.fired.items():
            if rid not in case.expected:
                offenders[rid] += 1
                examples[rid].append(f"{case.text} [{fired['how']} {fired.get('score', 1):.2f}]")
    for rid, count in offenders.most_common(8):
        print(f"  {rid} ×{count}: " + " | ".join(examples[rid][:3]))
    print("missed positives (sample):")
    for case in [c for c in positives if c.rule not in c.fired][:12]:
        print(f"  {case.rule}: {case.text} ({case.register})")

    esun_rate = float("nan")
    if esun_questions:
        started = time.perf_counter()
        raised = Counter()
        hits = 0
        for question in esun_questions:
            escalations = [rid for rid in fire(kb, question) if rid in escalation_ids]
            hits += bool(escalations)
            raised.update(escalations)
        esun_rate = ratio(hits, len(esun_questions))
        print(f"E.SUN: {hits}/{len(esun_questions)} questions raise an escalation "
              f"({time.perf_counter() - started:.0f} s): " + ", ".join(f"{r} ×{n}" for r, n in raised.most_common()))
    if typing:
        at_end, transient, every = prefix_escalations(kb, benign, escalation_ids)
        print(f"typing: prefix-only escalations still shown after the whole utterance {at_end} (goal 0); shown for a "
              f"while after a pause mid-sentence, then withdrawn {transient}; raised by some character prefix {every} "
              f"(what prompting on unsettled text would show)")
    return (f"rules: disclosure_recall={disclosure_recall:.2f} escalation_recall={escalation_recall:.2f} "
            f"esun_false_escalation={esun_rate:.3f} benign_false_escalation="
            f"{ratio(len(false_escalation), len(benign)):.3f} benign_false_disclosure="
            f"{ratio(len(false_disclosure), len(benign)):.3f}")


def sweep(kb: KnowledgeBase) -> None:
    """Validation figures for a grid of semantic thresholds, neighbour-vote floors and (escalations) trigger floors
    (E.SUN is never used to choose).

    Three passes instead of one per grid point: what fires with neither the classifier threshold nor the neighbour
    vote (triggers, timers, answer links), what the vote adds at a floor of 0 (the rules with enough neighbours), and
    every rule's probability with the threshold at 0 and no trigger counting. At threshold t, floor f and trigger
    floor g the sidebar shows the first set without the escalation triggers whose probability is below g, the voted
    rules whose probability reaches f, and the rules whose probability reaches t (an answer link only adds a rule that
    nothing else raised, so it is in the first set whatever t and f are)."""
    positives, benign = load_cases()
    cases = [c for c in positives + benign if c.split == "validation"]
    escalation_ids = {r["id"] for r in kb.generation().rules if r["type"] == "escalation"}
    never, zero = {"disclosure": float("inf"), "escalation": float("inf")}, {"disclosure": 0.0, "escalation": 0.0}
    kb.rule_settings = RuleSettings(thresholds=never, neighbour_floors=never, trigger_floors=zero)
    fired_first = [fire(kb, c.text) for c in cases]
    without = [set(f) for f in fired_first]
    by_trigger = [{rid for rid, r in f.items() if r["how"] == "trigger" and rid in escalation_ids} for f in fired_first]
    kb.rule_settings = RuleSettings(thresholds=never, neighbour_floors=zero, trigger_floors=zero)
    voted = [set(fire(kb, c.text)) - base for c, base in zip(cases, without)]
    kb.rule_settings = RuleSettings(thresholds=zero, neighbour_floors=zero, trigger_floors=never)
    scores = [{rid: r["score"] for rid, r in fire(kb, c.text).items() if r["how"] == "semantic"} for c in cases]
    kb.rule_settings = RuleSettings()
    benign_at = [i for i, c in enumerate(cases) if c.rule is None]
    for kind in ("disclosure", "escalation"):
        own = [(c, i) for i, c in enumerate(cases) if c.rule and (c.rule in escalation_ids) == (kind == "escalation")]
        for trigger_floor in ((0.0,) if kind == "disclosure" else (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)):
            for floor in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, float("inf")):
                for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
                    def fired(i):
                        vetoed = {rid for rid in by_trigger[i] if scores[i].get(rid, 1.0) < trigger_floor}
                        return (without[i] - vetoed) | \
                            {rid for rid in voted[i] if scores[i].get(rid, 0.0) >= floor} | \
                            {rid for rid, p in scores[i].items() if p >= threshold}
                    recall = ratio(sum(c.rule in fired(i) for c, i in own), len(own))
                    if kind == "escalation":
                        false = sum(bool(escalation_ids & fired(i)) for i in benign_at)
                    else:
                        false = sum(bool(fired(i) - escalation_ids - cases[i].expected) for i in benign_at)
                    print(f"{kind} trigger_floor={trigger_floor:.2f} neighbour_floor={floor:.2f} "
                          f"threshold={threshold:.2f} recall={recall:.3f} "
                          f"benign_false_{kind}={ratio(false, len(benign_at)):.3f} ({false} of {len(benign_at)})",
                          flush=True)


def esun_questions(data_dir: Path) -> list[str]:
    path = data_dir / "pid_map_content.json"
    if not path.exists():
        print(f"no E.SUN data at {data_dir}: esun_false_escalation is not measured", file=sys.stderr)
        return []
    corpus = json.loads(path.read_text(encoding="utf-8"))
    return [pair["question"] for pairs in corpus.values() for pair in pairs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--data", type=Path, default=SHARED / "bench" / "esun-faq")
    parser.add_argument("--no-typing", action="store_true", help="skip the character-by-character typing count")
    parser.add_argument("--sweep", action="store_true",
                        help="validation only: print the figures for other thresholds and neighbour floors (how they were chosen)")
    args = parser.parse_args()
    if args.sweep and args.split != "validation":
        parser.error("--sweep chooses settings, so it runs on the validation split only (--split validation)")
    settings = temp_settings("rules")
    try:
        db = Database(settings.database_url)
        imported = import_directory(db, CONTENT)
        if imported.errors:
            raise SystemExit("content does not import: " + "; ".join(str(e) for e in imported.errors))
        build_index(settings, db, incremental=False)
        kb = KnowledgeBase(settings)
        if args.sweep:
            sweep(kb)
            return 0
        print(report(kb, args.split, esun_questions(args.data), not args.no_typing))
    finally:
        remove(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

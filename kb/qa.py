"""Adherence on finished calls, for trainers: which required disclosures were said, said late or missed, and which
escalations were raised and handled. Pure functions over a call record's ``data`` (docs/interfaces.md, "Call record
data"), so the QA view, exports and tests read a call the same way.

Two kinds of record:
- live calls (the speech-recognition integration) carry ``required`` (when each disclosure became required) and
  ``said`` (which utterance said it, with what score, ``auto`` by the matcher or ``manual`` by the agent);
- typed calls carry only the sidebar's checklist (``disclosures`` with ``fired_at`` and ``ticked`` / ``ticked_at``):
  a ticked disclosure counts as said by hand at the time it was ticked.
A disclosure the agent dismissed as not applicable is not required. A disclosure said more than LATE_AFTER_SECONDS
after it became required was said late: by then the customer may already have decided.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

LATE_AFTER_SECONDS = 60
SAID, LATE, MISSED = "said", "late", "missed"


@dataclass
class DisclosureOutcome:
    rule_id: str
    title: str
    status: str                    # said | late | missed
    required_at: float | None      # seconds into the call
    said_at: float | None = None
    how: str = ""                  # auto | manual
    utterance: str = ""
    score: float | None = None


@dataclass
class EscalationOutcome:
    rule_id: str
    title: str
    raised_at: float | None
    handled: bool


@dataclass
class CallAdherence:
    disclosures: list[DisclosureOutcome] = field(default_factory=list)
    escalations: list[EscalationOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for d in self.disclosures if d.status == status)

    @property
    def required(self) -> int:
        return len(self.disclosures)

    @property
    def said(self) -> int:
        """Said at all (on time or late)."""
        return self.required - self.count(MISSED)

    @property
    def rate(self) -> float | None:
        """Share of required disclosures said on time; None when the call required none."""
        return self.count(SAID) / self.required if self.required else None

    @property
    def escalations_handled(self) -> int:
        return sum(1 for e in self.escalations if e.handled)

    def missed_rules(self) -> list[str]:
        """Rules the agent should study: disclosures missed or said late, escalations left unhandled."""
        rules = [d.rule_id for d in self.disclosures if d.status != SAID]
        return rules + [e.rule_id for e in self.escalations if not e.handled]


def _seconds(ms) -> float | None:
    return ms / 1000 if isinstance(ms, (int, float)) and not isinstance(ms, bool) else None


def _live(data: dict) -> list[DisclosureOutcome]:
    titles = {d.get("id"): d.get("title", "") for d in data.get("disclosures") or []}
    said: dict[str, dict] = {}
    for item in sorted(data.get("said") or [], key=lambda s: s.get("offset_ms") or 0):
        said.setdefault(item.get("rule_id"), item)   # the first time it was said counts
    out, seen = [], set()
    for item in data.get("required") or []:
        rule_id = item.get("rule_id")
        if rule_id in seen or item.get("dismissed"):
            continue
        seen.add(rule_id)
        hit = said.get(rule_id)
        outcome = DisclosureOutcome(rule_id, item.get("title") or titles.get(rule_id, ""), MISSED,
                                    _seconds(item.get("offset_ms")))
        if hit is not None:
            outcome.said_at, outcome.how = _seconds(hit.get("offset_ms")), hit.get("how", "")
            outcome.utterance, outcome.score = hit.get("utterance", ""), hit.get("score")
            outcome.status = _timeliness(outcome.required_at, outcome.said_at)
        out.append(outcome)
    return out


def _typed(data: dict) -> list[DisclosureOutcome]:
    out = []
    for item in data.get("disclosures") or []:
        if item.get("dismissed"):
            continue
        outcome = DisclosureOutcome(item.get("id"), item.get("title", ""), MISSED, item.get("fired_at"))
        if item.get("ticked"):
            outcome.said_at, outcome.how = item.get("ticked_at"), "manual"
            outcome.status = _timeliness(outcome.required_at, outcome.said_at)
        out.append(outcome)
    return out


def _timeliness(required_at: float | None, said_at: float | None) -> str:
    if required_at is None or said_at is None or said_at - required_at <= LATE_AFTER_SECONDS:
        return SAID
    return LATE


def summarize_call(data: dict) -> CallAdherence:
    """The adherence of one call record's ``data`` (live or typed)."""
    data = data or {}
    disclosures = _live(data) if "required" in data else _typed(data)
    escalations = [EscalationOutcome(e.get("id"), e.get("title", ""), e.get("fired_at"), bool(e.get("handled")))
                   for e in data.get("escalations") or [] if not e.get("dismissed")]
    return CallAdherence(disclosures, escalations)


@dataclass
class AgentAdherence:
    agent: str
    calls: int = 0
    required: int = 0
    said: int = 0        # on time
    late: int = 0
    missed: int = 0
    escalations: int = 0
    escalations_handled: int = 0
    missed_rules: Counter = field(default_factory=Counter)   # rule id → calls where it was missed, late or unhandled

    @property
    def rate(self) -> float | None:
        return self.said / self.required if self.required else None


def summarize_agents(calls: list[tuple[str, CallAdherence]]) -> list[AgentAdherence]:
    """Per agent over (agent, call adherence) pairs, the weakest adherence first (agents with nothing required
    last)."""
    agents: dict[str, AgentAdherence] = {}
    for agent, call in calls:
        row = agents.setdefault(agent, AgentAdherence(agent))
        row.calls += 1
        row.required += call.required
        row.said += call.count(SAID)
        row.late += call.count(LATE)
        row.missed += call.count(MISSED)
        row.escalations += len(call.escalations)
        row.escalations_handled += call.escalations_handled
        row.missed_rules.update(set(call.missed_rules()))
    return sorted(agents.values(), key=lambda a: (a.rate is None, a.rate if a.rate is not None else 0, a.agent))

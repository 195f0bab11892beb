"""Disclosure and escalation rules fire by phrase, by paraphrase and by timer, and say why."""
import numpy as np
import pytest

from indexer.rule_training import stored_training_rows, train_rule_classifiers
from kb.normalize import normalize
from kb.rules import linked_rules, neighbour_votes
from kb.triggers import match_triggers


def fired(result):
    return {r["id"]: r for r in result["disclosures"] + result["escalations"]}


def test_rule_fires_on_trigger_phrase(kb):
    result = kb.suggest("客户说这个理财保本吗")
    rule = fired(result)["disclosure-wealth-not-guaranteed"]
    assert rule["how"] == "trigger" and "保本" in rule["reason"]
    assert "不保证本金" in rule["text"]


def test_regulator_complaint_gives_numbered_steps(kb):
    result = kb.suggest("我要投诉到银保监会")
    rule = fired(result)["escalation-regulator-complaint"]
    assert len(rule["steps"]) >= 3 and all(isinstance(s, str) and s for s in rule["steps"])


@pytest.mark.parametrize("text, rule_id", [
    ("买这个一年能拿多少收益，肯定有吧", "disclosure-wealth-not-guaranteed"),
    ("排队排到现在都快一个钟头了还没人管", "escalation-long-wait"),
])
def test_rule_fires_on_paraphrase_without_trigger_words(kb, text, rule_id):
    generation = kb.generation()
    rule = next(r for r in generation.rules if r["id"] == rule_id)
    assert match_triggers(tuple(rule["triggers_normalized"]), normalize(text), True) is None, \
        "test text must avoid triggers, even approximately"
    hit = fired(kb.suggest(text)).get(rule_id)
    assert hit is not None and hit["how"] == "semantic" and "意思相近" in hit["reason"]


def test_timer_rules_fire_without_new_text(kb):
    quiet = fired(kb.suggest("", wait_seconds=30, call_seconds=30))
    assert "escalation-long-wait" not in quiet and "escalation-long-call" not in quiet
    late = fired(kb.suggest("", wait_seconds=601, call_seconds=301))
    assert late["escalation-long-wait"]["how"] == "timer" and "10 分钟" in late["escalation-long-wait"]["reason"]
    assert late["escalation-long-call"]["how"] == "timer"


@pytest.mark.parametrize("text", ["今天天气不错", "你们营业厅几点开门", "信用卡怎么申请", "积分能换什么"])
def test_everyday_questions_fire_no_escalation(kb, text):
    assert kb.suggest(text)["escalations"] == []


def test_confident_answer_brings_the_rules_its_article_requires(kb):
    generation = kb.generation()
    assert generation.rule_requires["account-closing"] == ["disclosure-identity-before-account"]

    def linked(top: float, rival: float) -> list[str]:
        answers = [{"article_id": "account-closing", "title": "销户办理", "score": top},
                   {"article_id": "lost-card-freeze", "title": "挂失", "score": rival}]
        return [f.rule["id"] for f in linked_rules(generation, answers, set())]

    assert linked(0.95, 0.6) == ["disclosure-identity-before-account"]
    assert linked(0.95, 0.9) == []   # another article nearly as good: not confident which one it is about
    assert linked(0.7, 0.2) == []    # a weak answer brings nothing
    fired_already = linked_rules(generation, [{"article_id": "account-closing", "title": "销户办理", "score": 1.0}],
                                 {"disclosure-identity-before-account"})
    assert fired_already == []
    # the rule's own classifier must lean towards it: a question about the procedure brings nothing
    answers = [{"article_id": "account-closing", "title": "销户办理", "score": 1.0}]
    assert linked_rules(generation, answers, set(), np.zeros(len(generation.rules))) == []
    assert [f.rule["id"] for f in linked_rules(generation, answers, set(), np.ones(len(generation.rules)))] == \
        ["disclosure-identity-before-account"]


def test_an_answer_link_says_which_article_brought_it(kb):
    result = kb.suggest("我想把这张卡销户")
    assert result["answers"][0]["article_id"] == "account-closing"
    identity = fired(result)["disclosure-identity-before-account"]
    assert identity["how"] == "semantic" or (identity["how"] == "answer" and "销户办理" in identity["reason"])


def test_neighbour_vote_counts_a_rules_own_examples_among_the_nearest_training_texts():
    example_sims = np.array([0.95, 0.94, 0.60, 0.50])
    owners = np.array([1, 1, 0, 0])
    # two of the three nearest texts are rule 1's examples; the third is background
    assert neighbour_votes(example_sims, owners, np.array([0.96, 0.30]), 2).tolist() == [0, 2]
    # background texts nearer than the examples outvote them
    assert neighbour_votes(example_sims, owners, np.array([0.99, 0.98]), 2).tolist() == [0, 1]
    # fewer training texts than neighbours: every one counts
    assert neighbour_votes(np.array([0.9]), np.array([0]), np.zeros(0), 1).tolist() == [1]


def test_the_neighbour_vote_sees_every_training_text_that_is_not_a_rule_example(kb):
    generation = kb.generation()
    counter_examples = sum(len(rule["counter_examples"]) for rule in generation.rules)
    background = len(generation.rule_background["texts"])
    assert generation.rule_neighbour_vectors.shape == (counter_examples + background,
                                                       generation.rule_example_vectors.shape[1])


def test_rule_training_gives_the_same_classifiers_every_time(kb):
    """A build's classifiers are a function of what they learn from: retraining the stored generation's own rows
    gives exactly the stored model, twice over (fits that ran side by side in threads once drifted between builds)."""
    generation = kb.generation()
    rows = stored_training_rows(generation)
    stored = {"weights": generation.rule_weights, "ngram_weights": generation.rule_ngram_weights,
              "bias": generation.rule_bias}
    for _ in range(2):
        retrained = train_rule_classifiers(*rows, len(generation.rules))
        for name, array in stored.items():
            np.testing.assert_array_equal(retrained[name], array, err_msg=name)


def test_an_escalation_trigger_counts_only_when_its_classifier_does_not_rule_the_text_out(kb):
    """Asking what a scam's 安全账户 means says the fraud rule's trigger phrase without the case; being told to move
    the money there is the case (kb/rules.py, TRIGGER_MIN_PROBABILITY)."""
    question = fired(kb.suggest("想了解一下，骗子说的安全账户是什么意思，我没接到过这种电话"))
    assert "escalation-fraud-in-progress" not in question
    case = kb.suggest("对方说我涉案，让我把存款转到安全账户，我刚转了两万")["escalations"]
    assert [(e["id"], e["how"]) for e in case] == [("escalation-fraud-in-progress", "trigger")]

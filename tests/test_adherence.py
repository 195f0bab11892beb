"""Disclosures the agent said (kb/adherence.py) on the real e5 model and the real index built from content/.

The lines here are written for these tests; they are in neither the rules' front matter nor bench/adherence_eval.
"""
from __future__ import annotations

import pytest

from kb.adherence import SaidDisclosure, facts_of, match_said, score_said, statements
from kb.articles import ArticleError, parse_article

WEALTH = "disclosure-wealth-not-guaranteed"
RECORDING = "disclosure-call-recording"
RATE = "disclosure-rate-reference"


def disclosure_ids(kb) -> list[str]:
    return [r["id"] for r in kb.generation().rules if r["type"] == "disclosure"]


def ticked(kb, line: str, rule_ids=None) -> set[str]:
    return {s.rule_id for s in match_said(kb, line, disclosure_ids(kb) if rule_ids is None else rule_ids)}


@pytest.mark.parametrize("line", [
    "我得提醒您一下，理财产品可不是存款，本金不做保证，收益也没法确定。",
    "这款理财非保本 收益不固定 跟存款不是一回事",                 # recogniser output, no punctuation
    "理财不是存款。本金有可能亏，去年的收益也不代表今年。",        # split over two sentences
])
def test_a_paraphrase_of_the_wealth_disclosure_ticks_it(kb, line):
    said = match_said(kb, line, disclosure_ids(kb))
    assert WEALTH in {s.rule_id for s in said}
    hit = next(s for s in said if s.rule_id == WEALTH)
    assert isinstance(hit, SaidDisclosure) and 0.0 <= hit.score <= 1.0 and hit.text


def test_a_homophone_slip_from_the_recogniser_still_ticks(kb):
    assert WEALTH in ticked(kb, "温馨提示理财产品不是存款不保笨金收益也不确定")


@pytest.mark.parametrize("line", [
    "您放心，这款理财是保本的，收益也稳。",          # the opposite
    "这款理财起购金额一万元，期限九十天。",          # topic, not the obligation
    "理财收益挺好的，去年有四个点。",                # topic only
    "您了解理财不保本吗？",                          # a question to the customer
    "这个理财不可能亏损，收益是有保证的。",          # negation
])
def test_near_misses_of_the_wealth_disclosure_do_not_tick(kb, line):
    assert WEALTH not in ticked(kb, line)


def test_rule_ids_limit_the_output(kb):
    line = "本次通话全程录音，请您不要说出密码。我刚才说的利率只是参考，以审批结果为准。"
    assert {RECORDING, RATE} <= ticked(kb, line)
    assert ticked(kb, line, [RATE]) == {RATE}
    assert ticked(kb, line, []) == set()
    assert ticked(kb, line, ["no-such-rule", "escalation-regulator-complaint"]) == set()


def test_every_required_rule_gets_a_score_and_only_said_ones_are_matched(kb):
    ids = disclosure_ids(kb)
    scores = score_said(kb, "这通电话有录音，密码千万不要讲。", ids)
    assert {s.rule_id for s in scores} == set(ids)
    said = match_said(kb, "这通电话有录音，密码千万不要讲。", ids)
    assert [s.rule_id for s in said] == [RECORDING]
    assert said[0].score == max(s.score for s in scores)


def test_questions_are_not_statements():
    assert statements("本次通话全程录音。您做过风险测评吗？请不要说密码") == ["本次通话全程录音", "请不要说密码"]
    assert statements("您确认一下好吗") == []


def test_a_clause_that_skips_a_topic_says_nothing_of_it():
    assert statements("测评的事今天就不说了，先看看产品。") == ["先看看产品"]
    assert statements("风险我就不多讲了，这款理财不保本，可能亏损本金") == ["这款理财不保本，可能亏损本金"]
    assert statements("收费标准回头再说。") == []
    assert statements("手续费这块回头我再跟您细说，先把申请提交上去") == ["先把申请提交上去"]
    assert statements("录音提示我就先省了，咱们抓紧办") == ["咱们抓紧办"]
    # telling the customer not to say a password is not skipping a topic
    assert statements("电话里密码您就不用说了") == ["电话里密码您就不用说了"]


def test_a_negation_slipped_into_a_phrase_or_before_a_longer_one_cancels_it():
    rule = {"said_facts": ["跟存款一样", "风险测评|测评"]}
    same, assessment = facts_of(rule)
    assert same.stated("这个理财跟存款一样") and not same.stated("这个理财跟存款不一样")
    assert assessment.stated("购买前需要做风险测评")
    assert not assessment.stated("这款产品不需要做风险测评")   # 「测评」 lies inside the negated 「风险测评」



def test_a_phrase_with_an_ellipsis_spans_the_words_between_its_parts_within_a_clause():
    warning, = facts_of({"said_facts": ["不要…密码|验证码…别"]})
    assert warning.stated("请您不要在通话里报出您的取款密码")        # a whole phrase between verb and object
    assert warning.stated("手机上的验证码什么的都千万别念")
    assert not warning.stated("不要着急，密码我帮您重置")            # not across punctuation
    assert not warning.stated("密码不要紧")                          # the parts in their order only



def test_a_window_without_a_required_fact_says_nothing_however_close_its_meaning(kb):
    facts = facts_of({"said_facts": ["犹豫期", "+工本费|十元", "+现金价值|损失"]})
    assert [f.required for f in facts] == [False, True, True]
    cooling_off = "disclosure-insurance-cooling-off"
    # the cheap refund within the period, without the loss after it, is half of the obligation
    assert cooling_off not in ticked(kb, "这份保险有十五天犹豫期，犹豫期里退保只收十元工本费。")
    assert cooling_off in ticked(kb, "这份保险有十五天犹豫期，犹豫期里退保只收十元工本费；过了犹豫期再退只退现金价值，会有损失。")

IDENTITY = "disclosure-identity-before-account"


def test_an_identity_check_ticks_only_when_it_says_how_and_never_when_it_asks_for_the_password(kb):
    assert IDENTITY not in ticked(kb, "查余额之前我得先确认一下您的身份。")  # the check without how
    assert IDENTITY in ticked(kb, "查余额之前我得先确认一下您的身份，您报一下名字和身份证最后四位。")
    assert IDENTITY not in ticked(kb, "查余额之前要先确认身份，您把取款密码报一下。")


def test_a_disclosure_split_by_a_filler_sentence_still_ticks(kb):
    line = "先说一下，咱们这通电话是录着音的。我这边打开您的资料稍等。您的密码和验证码都别在电话里讲。"
    assert RECORDING in ticked(kb, line)


INVESTMENT = "disclosure-investment-risk"


def test_a_line_about_another_product_does_not_tick_the_disclosure_even_where_a_sentence_omits_the_product(kb):
    # the second sentence alone states every key fact of the fund-risk disclosure, but the line is about a wealth
    # product (the fund rule's said_not names 理财): a contradiction anywhere in the line counts
    line = "这款理财跟存款不一样，本金没有保证；过去的业绩说明不了以后，也有可能亏，请您谨慎。"
    assert INVESTMENT not in ticked(kb, line)
    assert WEALTH in ticked(kb, line)

SAID_RULE = """---
id: disclosure-x
title: 测试披露
type: disclosure
triggers: [测试]
examples: [测试一下]
say: 这是测试话术。
said_facts: ["{fact}"]
said_not: [反话]
said_examples: [坐席这样说]
---
"""


def test_said_fields_parse_and_round_trip():
    article = parse_article(SAID_RULE.format(fact="要点|另一种说法"))
    assert article.said_facts == ["要点|另一种说法"] and article.said_not == ["反话"]
    assert parse_article(article.to_markdown()).said_examples == ["坐席这样说"]


def test_an_empty_alternative_in_said_facts_is_an_error_naming_the_field():
    with pytest.raises(ArticleError) as error:
        parse_article(SAID_RULE.format(fact="要点||另一种"))
    assert error.value.field == "said_facts" and "empty alternative" in str(error.value)


def test_the_editor_form_keeps_the_said_fields():
    from kb.drafts import assemble, fields_from_article

    article = parse_article(SAID_RULE.format(fact="要点|另一种说法"))
    fields = fields_from_article(article)
    assert fields["said_facts"] == "要点|另一种说法"
    again = parse_article(assemble(fields))
    assert (again.said_examples, again.said_facts, again.said_not) == (["坐席这样说"], ["要点|另一种说法"], ["反话"])

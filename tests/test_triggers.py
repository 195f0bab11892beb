"""Trigger phrases match as agents type them: words inserted, pinyin-input slips, and not after a negation."""
import pytest

from kb.normalize import normalize
from kb.triggers import match_triggers


def match(phrase: str, text: str, negation: bool = True):
    return match_triggers((normalize(phrase),), normalize(text), negation)


@pytest.mark.parametrize("phrase, text, found, how", [
    ("银保监会", "我要去银保监会投诉", "银保监会", "exact"),
    ("客户骂人", "客户一直在骂人，说话很难听", "客户一直在骂人", "gapped"),
    ("不想活了", "我真的不想再活了", "不想再活了", "gapped"),
    ("银保监会", "我要去银保坚会投诉", "银保坚会", "sound"),
    ("保本", "这个理财保笨吗", "保笨", "sound"),
    ("退保", "我想退保", "退保", "exact"),
    ("银保监会", "我要去銀保監會投訴", "银保监会", "exact"),  # traditional characters meet after normalisation
])
def test_trigger_matches(phrase, text, found, how):
    result = match(phrase, text)
    assert result is not None and (result.found, result.how) == (found, how)
    assert found in result.reason()


@pytest.mark.parametrize("phrase, text", [
    ("客户骂人", "客户的卡，今天有人骂人吗"),        # a gap never crosses punctuation
    ("客户骂人", "客户说他的邻居昨天在楼下骂人"),   # nor spans more than a few characters
    ("找律师", "附近有哪些网点"),
    ("保本", "包"),
])
def test_trigger_does_not_match_unrelated_text(phrase, text):
    assert match(phrase, text) is None


@pytest.mark.parametrize("phrase, text", [
    ("银保监会", "我不会去银保监会投诉的，放心"),
    ("找律师", "我没想找律师，就是问问"),
    ("弄死你", "没人说要弄死你"),
])
def test_negation_right_before_cancels_an_escalation_trigger(phrase, text):
    assert match(phrase, text, negation=True) is None
    assert match(phrase, text, negation=False) is not None  # disclosures keep firing: 「不保本吧」 still needs one


@pytest.mark.parametrize("phrase, text", [
    ("基金", "你们的贷款利率跟公积金比差多少"),  # 积金 sounds like 基金 inside the word 公积金
    ("基金", "我是激进型的，给我推点收益高的"),  # 激进 is ji jin too, but shares no character
])
def test_two_character_sound_alikes_need_a_real_slip(phrase, text):
    assert match(phrase, text) is None

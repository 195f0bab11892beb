"""The command-line interfaces other tools rely on (docs/interfaces.md)."""
import json
import os
import subprocess
import sys

from tests.helpers import ROOT


def run(settings, *args, stdin=None):
    env = dict(os.environ, KB_DATA_DIR=str(settings.data_dir), KB_DATABASE_URL=settings.database_url,
               KB_EMBED_CACHE=str(settings.embed_cache_path))
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=ROOT, env=env, input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_suggest_jsonl_answers_each_line_in_order(kb_settings):
    lines = [{"text": "卡丢了怎么办"}, {"text": "我要投诉到银保监会"}, "not an object", {"text": ""}]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) if not isinstance(x, str) else x for x in lines) + "\n"
    result = run(kb_settings, "suggest", "--jsonl", stdin=stdin)
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == 4
    assert outputs[0]["answers"][0]["article_id"] == "lost-card-freeze"
    assert any(e["id"] == "escalation-regulator-complaint" for e in outputs[1]["escalations"])
    assert "error" in outputs[2] and outputs[3]["answers"] == []
    for out in outputs:
        assert set(out) >= {"answers", "disclosures", "escalations"}


def test_search_json_and_text(kb_settings):
    result = run(kb_settings, "search", "手机银行被锁了", "--k", "3", "--json")
    answers = json.loads(result.stdout)
    assert len(answers) == 3 and answers[0]["article_id"] == "mobile-banking-login"
    text = run(kb_settings, "search", "手机银行被锁了")
    assert "mobile-banking-login" in text.stdout


def test_import_check_reports_bad_file_and_faq_import(kb_copy, tmp_path):
    bad = tmp_path / "content"
    bad.mkdir()
    (bad / "bad.md").write_text("---\nid: x\ntitle: [\n---\nbody\n", encoding="utf-8")
    result = run(kb_copy, "import", str(bad), "--check")
    assert result.returncode == 1 and "bad.md:3" in result.stderr
    faq = tmp_path / "faq.json"
    faq.write_text(json.dumps({"7": [{"question": "外币存款利息怎么算", "answers": ["按存入日挂牌利率计算。"]}]},
                              ensure_ascii=False), encoding="utf-8")
    result = run(kb_copy, "import-faq", str(faq))
    assert result.returncode == 0 and "1 created" in result.stderr

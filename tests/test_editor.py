"""Editor workspace through the real app: roles, list filters, validation, drafts and publishes without lost updates,
history/diff/rollback, import/export, content health and the audit log."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlalchemy import select

from kb.articles import load_directory, parse_article
from kb.db import Database
from kb.diffs import diff_texts
from kb.drafts import empty_fields, fields_from_article, validate
from kb.models import ArticleDraft, ArticleRecord, ArticleVersion, AuditEntry, Feedback, SuggestLog
from kb.store import publish, version_article
from tests.helpers import BUILD_TIMEOUT, CONTENT, Client, wait_until

ARTICLE = "lost-card-freeze"


# --- helpers --------------------------------------------------------------------------------------------------------

def current_article(settings, article_id=ARTICLE):
    with Database(settings.database_url).session() as s:
        record = s.get(ArticleRecord, article_id)
        return version_article(record.current), record.version


def hidden(page: str, name: str) -> int:
    return int(re.search(rf'name="{name}" value="(\d+)"', page).group(1))


def open_form(client: Client, article_id=ARTICLE) -> dict:
    """What the edit page would submit unchanged: its fields plus the hidden version counters."""
    page = client.get(f"/editor/articles/{article_id}/edit").get_data(as_text=True)
    article, _ = current_article(client.app.extensions["kb.settings"], article_id)
    form = fields_from_article(article)
    with client.app.extensions["kb.db"].session() as s:
        draft = s.get(ArticleDraft, article_id)
        if draft is not None:
            form = draft.fields
    return {**form, "expected_version": hidden(page, "expected_version"),
            "draft_revision": hidden(page, "draft_revision")}


def submit(client: Client, form: dict, action: str, path: str | None = None, **changes):
    data = {**form, **changes, "action": action, "csrf_token": client.token}
    return client.http.post(path or f"/editor/articles/{form['id']}/edit", data=data)


def diff_lines(page: str, kind: str) -> list[str]:
    """The text of the diff rows of one kind, markup (the changed-character marks) removed."""
    return [re.sub(r"<[^>]+>", "", row) for row in re.findall(rf'<tr class="diff-{kind}">(.*?)</tr>', page, re.S)]


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def copy_app(kb_copy, app_factory):
    return app_factory(kb_copy)


def wait_until_searchable(client: Client, article_id: str, timeout: float = 30.0) -> dict:
    """The article's index status once it is no longer being indexed."""
    def settled():
        status = client.get(f"/editor/articles/{article_id}/status").get_json()
        return status if status["state"] != "indexing" else None
    return wait_until(settled, timeout, f"{article_id} to be indexed")


# --- the form and diffs, without the web ----------------------------------------------------------------------------

def test_the_form_round_trips_every_article_unchanged():
    """Opening an article and publishing it untouched must not change it (no new version, no reformatted field)."""
    loaded = load_directory(CONTENT)
    assert len(loaded.articles) >= 60
    for path, article in loaded.articles:
        validation = validate(fields_from_article(article))
        assert validation.ok, (path, validation.errors)
        assert validation.article.content_hash() == article.content_hash(), path


def test_validation_reports_every_bad_field_at_once():
    fields = {**empty_fields("escalation"), "id": "Bad Id", "review_by": "2027-02-30", "timer_clock": "wait",
              "timer_seconds": "0", "triggers": "等太久"}
    errors = validate(fields).errors
    assert set(errors) == {"id", "title", "review_by", "examples", "steps", "timer"}
    assert "2027-02-30" in errors["review_by"]


def test_diff_marks_changed_characters_and_keeps_text_as_text():
    result = diff_texts("一\n挂失后七天补卡\n三\n<script>x</script>", "一\n挂失后三天补卡\n三\n<script>x</script>\n新行")
    lines = [line for hunk in result.hunks for line in hunk.lines]
    assert (result.added, result.removed) == (2, 1)
    assert [(line.kind, line.old_no, line.new_no) for line in lines if line.kind != "equal"] == \
        [("delete", 2, None), ("insert", None, 2), ("insert", None, 5)]
    assert lines[1].segments == [(False, "挂失后"), (True, "七"), (False, "天补卡")]
    assert diff_texts("同样", "同样").same


# --- roles ----------------------------------------------------------------------------------------------------------

def test_every_editor_route_is_editor_only(app, client_for):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("editor.")]
    assert len(rules) >= 14
    values = {"article_id": ARTICLE, "number": 1}
    for user in ("agent1", "trainer1"):
        client = client_for(user)
        for rule in rules:
            assert app.view_functions[rule.endpoint].allowed_roles == ("editor",), rule.endpoint
            path = rule.build(values)[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.http.open(path, method=method, headers={"X-CSRF-Token": client.token})
                assert response.status_code == 403, (user, method, path)
    anonymous = client_for()
    assert anonymous.get("/editor/").status_code == 302
    assert client_for("editor1").get("/editor/").status_code == 200
    assert client_for("admin1").get("/editor/").status_code == 200


# --- list -----------------------------------------------------------------------------------------------------------

def test_list_filters_and_search(copy_app):
    with copy_app.extensions["kb.db"].session() as s:
        old = parse_article("---\nid: review-overdue-demo\ntitle: 很久没复核的文章\ntype: product\ntags: [演示标签]\n"
                            "owner: 演示组\nreview_by: 2000-01-01\n---\n## 内容\n文字。\n")
        publish(s, old, author="editor1")
    editor = Client(copy_app, "editor1")
    titles = lambda page: re.findall(r'class="ed-title"[^>]*>([^<]+)<', page)
    everything = titles(text(editor.get("/editor/")))
    assert len(everything) >= 50
    scripts = text(editor.get("/editor/?type=script"))
    assert 0 < len(titles(scripts)) < len(everything)
    assert scripts.count('class="badge type-script"') == len(titles(scripts))
    assert titles(text(editor.get("/editor/?q=卡丢了"))) == ["银行卡挂失与冻结"]            # alias
    assert titles(text(editor.get("/editor/?q=LOST-CARD")))[:1] == ["银行卡挂失与冻结"]    # id, case-insensitive
    assert titles(text(editor.get("/editor/?q=掛失與凍結"))) == ["银行卡挂失与冻结"]         # title, traditional
    assert titles(text(editor.get("/editor/?tag=演示标签"))) == ["很久没复核的文章"]
    assert titles(text(editor.get("/editor/?owner=演示组"))) == ["很久没复核的文章"]
    overdue = titles(text(editor.get("/editor/?review=overdue")))
    assert "很久没复核的文章" in overdue
    assert "很久没复核的文章" not in titles(text(editor.get("/editor/?review=ok")))
    assert "没有符合条件的文章" in text(editor.get("/editor/?q=完全不存在的词语"))


# --- editing, validation, publishing --------------------------------------------------------------------------------

def test_validation_errors_are_inline_and_nothing_is_lost(copy_app):
    editor = Client(copy_app, "editor1")
    form = open_form(editor)
    body = form["body"] + "\n\n编辑者新写的一段，不能丢。"
    response = submit(editor, form, "publish", title="", review_by="2027-13-01", body=body)
    page = text(response)
    assert response.status_code == 422
    assert re.search(r'data-field="title".*?data-error-for="title"[^>]*>必填<', page, re.S)
    assert re.search(r'data-error-for="review_by"[^>]*>“2027-13-01”不是有效日期', page)
    assert "编辑者新写的一段，不能丢。" in page and 'value="2027-13-01"' in page
    assert current_article(copy_app.extensions["kb.settings"])[1] == 1

    rule = open_form(editor, "escalation-long-wait")
    response = submit(editor, rule, "publish", steps="", timer_clock="wait", timer_seconds="十分钟")
    page = text(response)
    assert response.status_code == 422
    assert re.search(r'data-error-for="steps"[^>]*>必填', page)
    assert re.search(r'data-error-for="timer"[^>]*>秒数须为正整数', page)

    response = submit(editor, form, "publish", tags="正常标签, 坏\u202e标签")  # pasted with an invisible override
    assert response.status_code == 422
    assert re.search(r'data-error-for="tags"[^>]*>第 2 个字是控制字符 U\+202E', text(response))


def test_preview_renders_like_the_sidebar_and_validates(client_for):
    editor = client_for("editor1")
    response = editor.post_json("/editor/preview", {"title": "标题", "type": "procedure", "id": "x-y",
                                                    "body": "## 步骤\n1. 第一步\n\n> 您好"})
    data = response.get_json()
    assert response.status_code == 200
    assert "<h2>步骤</h2>" in data["html"] and "<blockquote>" in data["html"] and data["errors"] == {}
    errors = editor.post_json("/editor/preview", {"type": "disclosure", "body": ""}).get_json()["errors"]
    assert set(errors) >= {"id", "title", "triggers", "examples", "say"}
    assert editor.post_json("/editor/preview", ["not", "an", "object"]).status_code == 400
    bad = editor.http.post("/editor/preview", data="{", content_type="application/json",
                           headers={"X-CSRF-Token": editor.token})
    assert bad.status_code == 400


def test_publish_makes_a_version_and_agents_find_it(copy_app):
    editor, agent = Client(copy_app, "editor1"), Client(copy_app, "agent1")
    form = open_form(editor)
    phrase = "蓝鲸应急专线"
    body = form["body"].replace("3. 立即办理临时挂失", f"3. 立即办理临时挂失，也可拨打{phrase}")
    response = submit(editor, form, "publish", body=body, message="加上专线")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/editor/articles/{ARTICLE}")
    with copy_app.extensions["kb.db"].session() as s:
        version = s.scalars(select(ArticleVersion).where(ArticleVersion.article_id == ARTICLE)
                            .order_by(ArticleVersion.number.desc())).first()
        assert (version.number, version.author, version.message) == (2, "editor1", "加上专线")
    status = wait_until_searchable(editor, ARTICLE)
    assert status == {"article_id": ARTICLE, "version": 2, "state": "searchable", "label": "版本 2 已可搜索"}
    answers = agent.post_json("/api/suggest", {"text": phrase}).get_json()["answers"]
    assert answers[0]["article_id"] == ARTICLE and phrase in answers[0]["text"]
    same = submit(editor, open_form(editor), "publish")
    assert same.status_code == 302 and current_article(copy_app.extensions["kb.settings"])[1] == 2


def test_conflicting_publish_is_refused_and_keeps_the_text(copy_app):
    first, second = Client(copy_app, "editor1"), Client(copy_app, "admin1")
    form_a, form_b = open_form(first), open_form(second)
    assert form_a["expected_version"] == form_b["expected_version"] == 1
    assert submit(first, form_a, "publish", body=form_a["body"] + "\n\n第一位编辑的补充。").status_code == 302
    mine = form_b["body"] + "\n\n第二位编辑的补充，不能丢。"
    response = submit(second, form_b, "publish", body=mine)
    page = text(response)
    assert response.status_code == 409
    assert "发布被拒绝" in page and "editor1" in page and "你的修改没有丢失" in page
    assert any("第一位编辑的补充" in line for line in diff_lines(page, "delete"))   # theirs
    assert any("第二位编辑的补充" in line for line in diff_lines(page, "insert"))   # mine
    assert "第二位编辑的补充，不能丢。</textarea>" in page
    assert hidden(page, "expected_version") == 2        # publishing again now is a deliberate, informed overwrite
    article, version = current_article(copy_app.extensions["kb.settings"])
    assert version == 2 and "第一位编辑的补充" in article.body and "第二位" not in article.body


def test_drafts_never_overwrite_a_newer_draft(copy_app):
    first, second = Client(copy_app, "editor1"), Client(copy_app, "admin1")
    form_a, form_b = open_form(first), open_form(second)
    saved = submit(first, form_a, "draft", body=form_a["body"] + "\n\n草稿甲。", title="")
    assert saved.status_code == 302
    assert "草稿已保存。发布前还需修改 1 处" in text(first.get(saved.headers["Location"]))
    refused = submit(second, form_b, "draft", body=form_b["body"] + "\n\n草稿乙。")
    page = text(refused)
    assert refused.status_code == 409 and "草稿未保存" in page and "草稿乙。</textarea>" in page
    assert hidden(page, "draft_revision") == 1
    with copy_app.extensions["kb.db"].session() as s:
        draft = s.get(ArticleDraft, ARTICLE)
        assert draft.author == "editor1" and "草稿甲" in draft.fields["body"]
    # The first editor reopens the page: the draft (with its validation error) is what they get back.
    reopened = text(first.get(f"/editor/articles/{ARTICLE}/edit"))
    assert "草稿甲。</textarea>" in reopened and 'data-error-for="title" role="alert">必填' in reopened
    assert "有一份未发布的草稿" in text(first.get(f"/editor/articles/{ARTICLE}"))
    # Publishing from the draft removes it; the published article is unchanged by the refused save.
    form = open_form(first)
    stale_copy = open_form(second)
    assert submit(first, form, "publish", title="银行卡挂失与冻结").status_code == 302
    with copy_app.extensions["kb.db"].session() as s:
        assert s.get(ArticleDraft, ARTICLE) is None
    assert "草稿甲" in current_article(copy_app.extensions["kb.settings"])[0].body
    # Saving over a draft that was published meanwhile is refused too, with the text kept.
    gone = submit(second, stale_copy, "draft", body=stale_copy["body"] + "\n\n草稿丙。")
    assert gone.status_code == 409 and "已被发布或丢弃" in text(gone) and "草稿丙。</textarea>" in text(gone)


def test_new_article_draft_then_publish_and_id_rules(copy_app):
    editor = Client(copy_app, "editor1")
    fields = {"id": "card-cvv-question", "title": "卡背面三位数字能告诉别人吗", "type": "procedure", "tags": "安全，CVV",
              "aliases": "安全码，卡背面数字", "owner": "银行卡业务组", "review_by": "2027-12-31", "sources": "",
              "body": "## 能不能告诉别人\n不能。任何人索要卡背面三位数字都可能是诈骗。", "expected_version": 0,
              "draft_revision": 0}
    taken = submit(editor, {**fields, "id": ARTICLE}, "publish", path="/editor/new")
    assert taken.status_code == 422 and "已被现有文章使用" in text(taken)
    bad = submit(editor, {**fields, "id": "Bad Id"}, "draft", path="/editor/new")
    assert bad.status_code == 422 and "小写英文字母" in text(bad)
    draft = submit(editor, fields, "draft", path="/editor/new")
    assert draft.status_code == 302 and draft.headers["Location"].endswith("/editor/articles/card-cvv-question/edit")
    assert "卡背面三位数字能告诉别人吗" in text(editor.get("/editor/"))      # listed among unpublished drafts
    form = open_form_new(editor, "card-cvv-question")
    assert submit(editor, form, "publish").status_code == 302
    with copy_app.extensions["kb.db"].session() as s:
        assert s.get(ArticleRecord, "card-cvv-question").version == 1
        assert s.get(ArticleDraft, "card-cvv-question") is None


def open_form_new(client: Client, article_id: str) -> dict:
    page = client.get(f"/editor/articles/{article_id}/edit").get_data(as_text=True)
    with client.app.extensions["kb.db"].session() as s:
        fields = s.get(ArticleDraft, article_id).fields
    return {**fields, "expected_version": hidden(page, "expected_version"),
            "draft_revision": hidden(page, "draft_revision")}


# --- history --------------------------------------------------------------------------------------------------------

def test_history_diff_and_rollback(copy_app):
    editor = Client(copy_app, "editor1")
    form = open_form(editor)
    original = form["body"]
    submit(editor, form, "publish", body=original.replace("核实身份", "先核实身份"), message="措辞")
    history = text(editor.get(f"/editor/articles/{ARTICLE}/history"))
    assert "措辞" in history and "v2" in history and "当前" in history
    diff = text(editor.get(f"/editor/articles/{ARTICLE}/diff?a=2&b=1"))   # any order: older on the left
    assert re.search(r'<tr class="diff-delete">.*?<mark class="chg">', diff, re.S)
    assert re.search(r'<tr class="diff-insert">.*?<mark class="chg">先</mark>核实身份', diff, re.S)
    stale = editor.http.post(f"/editor/articles/{ARTICLE}/rollback",
                             data={"version": 1, "expected_version": 1, "csrf_token": editor.token})
    assert stale.status_code == 409 and "回滚未执行" in text(stale)
    done = editor.http.post(f"/editor/articles/{ARTICLE}/rollback",
                            data={"version": 1, "expected_version": 2, "csrf_token": editor.token})
    assert done.status_code == 302
    article, version = current_article(copy_app.extensions["kb.settings"])
    assert version == 3 and article.body == original.strip()
    assert "回滚到版本 1" in text(editor.get(f"/editor/articles/{ARTICLE}/history"))
    assert text(editor.get(f"/editor/articles/{ARTICLE}/diff?a=1&b=3")).count("两者内容完全相同") == 1


def test_bad_input_gets_4xx_not_500(client_for):
    editor = client_for("editor1")
    post = lambda path, **data: editor.http.post(path, data={**data, "csrf_token": editor.token})
    assert post(f"/editor/articles/{ARTICLE}/edit", action="publish", expected_version="abc").status_code == 400
    assert post(f"/editor/articles/{ARTICLE}/edit", action="explode").status_code == 400
    assert post(f"/editor/articles/{ARTICLE}/rollback", version="x", expected_version="1").status_code == 400
    assert post(f"/editor/articles/{ARTICLE}/rollback", version="99", expected_version="1").status_code == 404
    assert editor.get(f"/editor/articles/{ARTICLE}/diff?a=zz").status_code == 400
    assert editor.get(f"/editor/articles/{ARTICLE}/versions/99").status_code == 404
    assert editor.get("/editor/articles/no-such-article").status_code == 404
    assert editor.get("/editor/articles/..%2Fetc/edit").status_code == 404
    assert editor.get("/editor/audit?page=-3").status_code == 400
    assert post(f"/editor/articles/{ARTICLE}/edit", action="publish").status_code == 422  # empty form: errors shown


# --- import / export ------------------------------------------------------------------------------------------------

def test_import_validates_each_file_and_imports_the_valid_ones(copy_app):
    editor = Client(copy_app, "editor1")
    good = ("---\nid: imported-article\ntitle: 导入的文章\ntype: product\ntags: [导入]\n---\n## 内容\n导入成功。\n")
    bad = ("---\nid: broken-article\ntitle: 坏文章\ntype: product\nreview_by: 2027-02-30\n---\n## 内容\n文字。\n")
    files = [(io.BytesIO(good.encode()), "good.md"), (io.BytesIO(bad.encode()), "bad.md"),
             (io.BytesIO(b"\xff\xfe"), "binary.md"), (io.BytesIO(b"hello"), "notes.pdf")]
    response = editor.http.post("/editor/import", data={"files": files, "csrf_token": editor.token},
                                content_type="multipart/form-data")
    page = text(response)
    assert response.status_code == 200
    rows = re.findall(r"<tr class=\"(ok|bad)\">\s*<td>([^<]+)</td>.*?<td class=\"num\">(\d*)</td>\s*<td>([^<]*)</td>"
                      r"\s*<td>(.*?)</td>", page, re.S)
    by_name = {name: (kind, line, field, message) for kind, name, line, field, message in rows}
    assert by_name["good.md"][0] == "ok" and "新建" in page
    assert by_name["bad.md"][:3] == ("bad", "5", "复核日期") and "2027-02-30" in by_name["bad.md"][3]
    assert by_name["binary.md"][0] == "bad" and "UTF-8" in by_name["binary.md"][3]
    assert by_name["notes.pdf"][0] == "bad" and "不是 Markdown" in by_name["notes.pdf"][3]
    with copy_app.extensions["kb.db"].session() as s:
        assert s.get(ArticleRecord, "imported-article") is not None
        assert s.get(ArticleRecord, "broken-article") is None
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "import")).first().actor == "editor1"
    checked = editor.http.post("/editor/import", data={"files": [(io.BytesIO(good.replace("imported-article",
                               "checked-only").encode()), "c.md")], "check_only": "1", "csrf_token": editor.token},
                               content_type="multipart/form-data")
    assert "可以导入" in text(checked)
    with copy_app.extensions["kb.db"].session() as s:
        assert s.get(ArticleRecord, "checked-only") is None
    empty = editor.http.post("/editor/import", data={"csrf_token": editor.token}, content_type="multipart/form-data")
    assert empty.status_code == 422


def test_export_is_a_zip_of_markdown_by_type(client_for, kb_settings):
    response = client_for("editor1").get("/editor/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert f"procedures/{ARTICLE}.md" in names and any(n.startswith("disclosures/") for n in names)
    exported = parse_article(archive.read(f"procedures/{ARTICLE}.md"), "x.md")
    assert exported.content_hash() == current_article(kb_settings)[0].content_hash()


# --- health and audit -----------------------------------------------------------------------------------------------

def test_health_page_shows_what_to_fix_and_write(copy_app):
    settings = copy_app.extensions["kb.settings"]
    db = copy_app.extensions["kb.db"]
    with db.session() as s:
        s.add_all([Feedback(user="agent1", article_id="credit-card-billing-dates", heading="免息期", query="免息期多久",
                            helpful=False) for _ in range(3)])
        s.add(Feedback(user="agent1", article_id="credit-card-billing-dates", heading="免息期", helpful=True))
        s.add_all([SuggestLog(user="agent1", text="比特币能存吗", normalized="比特币能存吗", result_count=0)
                   for _ in range(2)])
        s.add(SuggestLog(user="agent1", text="外星人开户", normalized="外星人开户", result_count=3, top_score=0.6,
                         top_article_id="debit-card-account-opening"))
        s.add(SuggestLog(user="agent1", text="挂失", normalized="挂失", result_count=5, top_score=1.0,
                         top_article_id=ARTICLE))
        original, _ = current_article(settings)
        copy = parse_article(original.to_markdown().replace(f"id: {ARTICLE}", "id: lost-card-copy")
                             .replace("立即办理临时挂失", "马上办理临时挂失"))
        publish(s, copy, author="editor1")
        overdue = parse_article(original.to_markdown().replace(f"id: {ARTICLE}", "id: stale-article")
                                .replace("review_by: '2027-06-30'", "review_by: '2001-01-01'")
                                .replace("title: 银行卡挂失与冻结", "title: 银行卡挂失冻结办理（旧版）"))
    updater = copy_app.extensions["kb.index_updater"]
    with db.session() as s:
        publish(s, overdue, author="editor1")
    assert updater.wait(updater.request(), timeout=BUILD_TIMEOUT)
    page = text(Client(copy_app, "editor1").get("/editor/health"))
    section = lambda name: page.split(f'id="{name}"')[1].split("</section>")[0]
    assert "银行卡挂失冻结办理（旧版）" in section("reviews") and "2001-01-01" in section("reviews")
    assert "信用卡账单日" in section("feedback") and '<td class="num bad">3</td>' in section("feedback")
    assert "比特币能存吗" in section("zero-results") and '<td class="num">2</td>' in section("zero-results")
    assert "外星人开户" in section("low-confidence") and "挂失</td>" not in section("low-confidence")
    duplicates = section("duplicates")
    assert "lost-card-copy" in duplicates and "stale-article" in duplicates   # both copies of the same article
    assert "identity-verification" not in duplicates                          # related topics are not duplicates


def test_audit_log_lists_editor_actions(copy_app):
    editor = Client(copy_app, "editor1")
    form = open_form(editor)
    submit(editor, form, "draft", body=form["body"] + "\n草稿。")
    submit(editor, open_form(editor), "publish", body=form["body"] + "\n发布。", message="审计测试")
    editor.http.post(f"/editor/articles/{ARTICLE}/rollback",
                     data={"version": 1, "expected_version": 2, "csrf_token": editor.token})
    editor.get("/editor/export")
    page = text(editor.get("/editor/audit?actor=editor1"))
    for label in ("保存草稿", "发布", "回滚", "导出"):
        assert f">{label}</span>" in page, label
    assert "version 2: 审计测试" in page
    only = text(editor.get("/editor/audit?action=rollback"))
    assert only.count('class="badge action-') == 1

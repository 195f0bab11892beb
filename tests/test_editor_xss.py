"""Hostile article content (<script>, on*= handlers, javascript: links) never reaches any page as live markup:
editor preview, article and version pages, edit form, history, diffs, the conflict page, search and the API."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from kb.drafts import fields_from_article
from kb.models import ArticleRecord
from kb.store import version_article
from tests.helpers import Client, wait_until

PHRASE = "紫罗兰测试词"
HOSTILE_BODY = f"""## 危险标题 <script>alert('heading')</script>
正文 <script>alert(1)</script> {PHRASE}
<img src=x onerror="alert(2)">
[点我](javascript:alert(3))
<a href="javascript:alert(4)" onclick="alert(5)">链接</a>
<svg onload=alert(6)></svg>
<iframe src="javascript:alert(7)"></iframe>
"""


class TagAudit(HTMLParser):
    """Collects what a browser would treat as live: tags and attributes, never text or attribute values' content."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not re.fullmatch(r"/static/[\w/.-]+\.js", attrs.get("src") or ""):
            self.problems.append(f"<script {attrs}>")
        if tag in ("img", "svg", "iframe", "object", "embed"):
            self.problems.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and \
                    (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")


def assert_inert(html: str, where: str) -> None:
    audit = TagAudit()
    audit.feed(html)
    assert not audit.problems, (where, audit.problems)


def test_hostile_markup_is_never_live_on_any_page(kb_copy, app_factory):
    app = app_factory(kb_copy)
    editor, rival, agent = Client(app, "editor1"), Client(app, "admin1"), Client(app, "agent1")
    fields = {"id": "hostile-article", "title": "<script>alert('title')</script>危险文章", "type": "procedure",
              "tags": "<b>标签</b>", "aliases": "<img src=x onerror=alert(8)>", "owner": "<i>组</i>",
              "review_by": "2027-01-01", "sources": "javascript:alert(9)", "body": HOSTILE_BODY}

    preview = editor.post_json("/editor/preview", fields).get_json()
    assert_inert(preview["html"], "preview")
    assert PHRASE in preview["html"]

    created = editor.http.post("/editor/new", data={**fields, "action": "publish", "expected_version": 0,
                                                     "draft_revision": 0, "csrf_token": editor.token})
    assert created.status_code == 302

    # A second version (to diff against) and a refused save (the conflict page shows a diff of hostile text).
    start = {**fields, "expected_version": 1, "draft_revision": 0, "csrf_token": editor.token}
    second = HOSTILE_BODY + "\n<script>alert('v2')</script> 第二版"
    assert editor.http.post("/editor/articles/hostile-article/edit",
                            data={**start, "body": second, "action": "publish"}).status_code == 302
    conflict = rival.http.post("/editor/articles/hostile-article/edit",
                               data={**start, "csrf_token": rival.token, "action": "publish",
                                     "body": HOSTILE_BODY + "\n<img src=y onerror=alert('rival')>"})
    assert conflict.status_code == 409
    draft = editor.http.post("/editor/articles/hostile-article/edit",
                             data={**start, "expected_version": 2, "body": second + "\n<svg onload=x>",
                                   "action": "draft"})
    assert draft.status_code == 302

    pages = {
        "conflict page": conflict,
        "edit form (draft)": editor.get("/editor/articles/hostile-article/edit"),
        "article page": editor.get("/editor/articles/hostile-article"),
        "version page": editor.get("/editor/articles/hostile-article/versions/1"),
        "history": editor.get("/editor/articles/hostile-article/history"),
        "diff": editor.get("/editor/articles/hostile-article/diff?a=1&b=2"),
        "article list": editor.get("/editor/?q=危险文章"),
        "audit log": editor.get("/editor/audit"),
        "health": editor.get("/editor/health"),
    }
    for where, response in pages.items():
        assert response.status_code in (200, 409), where
        assert_inert(response.get_data(as_text=True), where)
    # The hostile text is there, as text: escaped in the form, the diff and the conflict page.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["edit form (draft)"].get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;v2&#39;)&lt;/script&gt;" in pages["diff"].get_data(as_text=True)
    assert "onerror=alert(&#39;rival&#39;)" in conflict.get_data(as_text=True)

    # Search: once the publish is indexed, the agents' results carry the sanitised HTML only.
    wait_until(lambda: editor.get("/editor/articles/hostile-article/status").get_json()["state"] == "searchable",
               30, "the publish to be indexed")
    result = agent.post_json("/api/suggest", {"text": PHRASE}).get_json()
    hit = next(a for a in result["answers"] if a["article_id"] == "hostile-article")
    assert_inert(hit["html"], "api html")
    assert_inert(hit["snippet"], "api snippet")
    search_page = agent.get(f"/search?q={PHRASE}").get_data(as_text=True)
    assert "危险文章" in search_page
    assert_inert(search_page, "search page")
    with app.extensions["kb.db"].session() as s:
        stored = version_article(s.get(ArticleRecord, "hostile-article").current)
    assert fields_from_article(stored)["title"] == fields["title"]   # stored as typed; escaping is the page's job

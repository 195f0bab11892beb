"""POST /api/suggest: the object in docs/interfaces.md, authentication, CSRF and clear errors for bad input."""


def test_suggest_returns_guide_object(client_for):
    client = client_for("agent1")
    response = client.post_json("/api/suggest", {"text": "这个理财保本吗"})
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) == {"answers", "disclosures", "escalations"}
    assert any(d["id"] == "disclosure-wealth-not-guaranteed" and d["text"] for d in data["disclosures"])


def test_anonymous_gets_401_and_missing_csrf_gets_400(client_for):
    anonymous = client_for()
    anonymous.refresh_token()
    assert anonymous.post_json("/api/suggest", {"text": "挂失"}).status_code == 401
    client = client_for("agent1")
    response = client.http.post("/api/suggest", json={"text": "挂失"})
    assert response.status_code == 400 and "CSRF" in response.get_json()["error"]


def test_bad_input_gets_clear_4xx(client_for):
    client = client_for("agent1")
    big = client.post_json("/api/suggest", {"text": "挂" * 1_000_000})
    assert big.status_code == 413 and "error" in big.get_json()
    long = client.post_json("/api/suggest", {"text": "挂" * 3000})
    assert long.status_code == 413 and "limit" in long.get_json()["error"]
    assert client.post_json("/api/suggest", {"txt": "x"}).status_code == 400
    assert client.post_json("/api/suggest", ["x"]).status_code == 400
    broken = client.http.post("/api/suggest", data=b'{"text": "\xff\xfe"}', content_type="application/json",
                              headers={"X-CSRF-Token": client.token})
    assert broken.status_code == 400 and "UTF-8" in broken.get_json()["error"]
    weird = client.post_json("/api/suggest", {"text": "\x00\x07😀挂失ＡＢＣ"})
    assert weird.status_code == 200


def test_search_page_renders_results(client_for):
    client = client_for("agent1")
    page = client.get("/search?q=卡丢了").get_data(as_text=True)
    assert "银行卡挂失与冻结" in page

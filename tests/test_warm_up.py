"""Start-up warms everything a first request would wait for: the index, the model and the adherence matcher's
reference embeddings (a live call's first agent line would otherwise embed dozens of texts)."""
from kb import adherence
from kb.encoders import create_encoder
from kb.engine import KnowledgeBase
from kb.live import said_disclosures
from tests.helpers import CountingEncoder, wait_until


def test_after_start_up_an_agent_line_embeds_only_its_own_sentences(kb_settings, app_factory, monkeypatch):
    monkeypatch.setattr(adherence, "_REFERENCES", adherence._ReferenceVectors())  # as in a new process
    encoder = CountingEncoder(create_encoder(kb_settings.embed_model))
    engine = KnowledgeBase(kb_settings, encoder=encoder)
    app = app_factory(kb_settings, ENGINE=engine, WARM_UP=True)
    client = app.test_client()
    wait_until(lambda: client.get("/healthz").get_json()["ready"], timeout=120, what="/healthz to say ready")
    warmed = encoder.texts
    references = {t for rule in engine.generation().rules if rule["type"] == "disclosure"
                  for t in adherence.references(rule)}
    assert warmed == 1 + len(references) > 50  # one query and every disclosure's references
    said = said_disclosures(engine, "这款理财产品不保本，收益不确定。过往业绩不代表未来表现。")
    assert "disclosure-wealth-not-guaranteed" in {s["rule_id"] for s in said}
    assert encoder.texts - warmed == 2  # its two sentences; the joined window is their mean


def test_a_node_without_an_index_says_ready_only_once_an_index_is_there(kb_copy, app_factory):
    """A node joining with an empty data folder: /healthz (what a load balancer reads) says not ready until its
    index exists, then ready without a restart."""
    parked = kb_copy.index_dir.with_name("index-parked")
    kb_copy.index_dir.rename(parked)
    app = app_factory(kb_copy, WARM_UP=True, FOLLOW_INDEX=False)
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok", "ready": False}
    parked.rename(kb_copy.index_dir)  # the follower's first build, as far as the engine can tell
    wait_until(lambda: client.get("/healthz").get_json()["ready"], timeout=120, what="/healthz to say ready")

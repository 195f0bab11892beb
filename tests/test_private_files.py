"""Secret files (session key, generated passwords) are private from the first byte and never half-written."""
import os
import stat
from concurrent.futures import ThreadPoolExecutor

from kb.private_files import write_private


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_file_is_mode_600_even_with_an_open_umask(tmp_path):
    old = os.umask(0)
    try:
        target = tmp_path / "secret"
        target.write_text("old, world-readable")
        os.chmod(target, 0o644)
        assert write_private(target, "new")
        assert mode(target) == 0o600 and target.read_text() == "new"
        assert [p.name for p in tmp_path.iterdir()] == ["secret"]  # no temporary file left behind
    finally:
        os.umask(old)


def test_racing_creators_of_one_key_all_read_the_first(tmp_path):
    target = tmp_path / "secret_key"
    with ThreadPoolExecutor(8) as pool:
        wrote = list(pool.map(lambda n: write_private(target, f"key-{n}", replace=False), range(8)))
    assert wrote.count(True) == 1
    assert target.read_text() == f"key-{wrote.index(True)}" and mode(target) == 0o600


def test_app_generates_a_private_secret_key(kb_copy, app_factory, monkeypatch):
    monkeypatch.delenv("KB_SECRET_KEY", raising=False)
    (kb_copy.data_dir / "secret_key").unlink(missing_ok=True)
    old = os.umask(0)
    try:
        app_factory(kb_copy)
    finally:
        os.umask(old)
    assert mode(kb_copy.data_dir / "secret_key") == 0o600

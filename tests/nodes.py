"""Real app nodes for the multi-node tests: gunicorn processes on loopback, each with its own data folder, sharing
one database, the secret key and the embedding cache. A small HTTP client logs in like a browser (cookie + CSRF)."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Node:
    """One node: ``gunicorn 'webapp:create_app()'`` with one worker (two would only cost memory here)."""

    def __init__(self, name: str, data_dir: Path, env: dict):
        self.name, self.data_dir, self.env = name, data_dir, env
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = data_dir / f"{name}.log"

    def start(self, timeout: float = 120.0, ready: bool = True) -> "Node":
        """Start and wait until /healthz answers (``ready``: and says the model and an index are loaded; a node
        with an empty data folder only gets there once its follower has built an index)."""
        env = dict(os.environ, KB_DATA_DIR=str(self.data_dir), **self.env)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "webapp" / "gunicorn.conf.py"),
                 "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{self.port}", "webapp:create_app()"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # wait on state: the node says its model and index are loaded
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                status, body = Client(self).request("GET", "/healthz")
                if status == 200 and (json.loads(body)["ready"] or not ready):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} not ready after {timeout}s")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=60)


class Client:
    """A browser's session on one node (or moved to another: ``on(node)`` keeps the cookie)."""

    def __init__(self, node: Node, password: str = ""):
        self.node, self.password = node, password
        self.cookie, self.token = "", ""

    def request(self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        self.last_headers = dict(response.getheaders())
        return response.status, data

    def refresh_token(self, path: str = "/login") -> None:
        _, page = self.request("GET", path)
        self.token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()

    def login(self, username: str, password: str) -> int:
        self.refresh_token()
        status, _ = self.request("POST", "/login", urlencode({"username": username, "password": password,
                                                               "csrf_token": self.token}),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 302:
            self.refresh_token("/search")
        return status

    def suggest(self, text: str) -> tuple[int, dict]:
        status, body = self.request("POST", "/api/suggest",
                                    json.dumps({"text": text, "log": False}, ensure_ascii=False).encode(),
                                    {"Content-Type": "application/json", "X-CSRF-Token": self.token})
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"error": body[:200].decode(errors="replace")}

"""gunicorn settings for serving the app: `make run`, bench/http_load.py and bench/soak.py all start from these.

2 workers x 8 threads measured best on the 2-core machine (README, Performance). A worker's requests mostly wait
on C code that releases the GIL (the e5 engine, FAISS, scrypt), so threads are cheap; 8 rather than 4 so that a burst
of logins at the start of a shift (each waiting about 150 ms for scrypt) cannot occupy every thread while agents on
calls are typing. More workers than cores only cost memory: each holds its own copy of the index.

Live calls: each agent's sidebar keeps a Server-Sent Events stream open (``/agent/live/stream``), and a gthread
worker gives an open stream one of its threads for as long as it lasts. So each worker has 40 threads, of which at
most ``KB_LIVE_MAX_STREAMS`` (32) may hold streams; the other 8 serve requests exactly as before (a stream over the
limit is told to retry in 3 s, perhaps on the other worker). A waiting stream costs a sleeping thread (a small
stack, no CPU: the process's hub thread wakes it), and each stream ends after 55 s so a vanished browser frees its
thread; the browser reconnects at once with Last-Event-ID. 2 × 32 = 64 streams per node; `make bench-live`
measures 50 live calls on this configuration (docs/design.md, "Live calls").
"""
import logging
import sys

workers = 2
threads = 40
worker_class = "gthread"
keepalive = 20


def post_worker_init(worker):
    """Follow publishes made on other nodes from the moment the worker is up, not from its first request; the
    index builds it runs log their summaries (what was embedded, what came from the shared cache) to the error log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"))
    indexer_log = logging.getLogger("indexer")
    indexer_log.setLevel(logging.INFO)
    indexer_log.addHandler(handler)
    worker.wsgi.extensions["kb.start_follower"]()

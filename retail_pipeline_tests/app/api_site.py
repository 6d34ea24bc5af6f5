"""A lakehouse for the API tests, built by a real pipeline run, and the API on it under a real uvicorn on
127.0.0.1 (in a thread of the test process, so a test can give it its own settings and read its log)."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import uvicorn

from retail_pipeline.adapters.api_keys import KeyStore, parse_scopes
from retail_pipeline.app.api.server import create_app
from retail_pipeline.app.generate import generate_landing
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.settings import Settings
from retail_pipeline_tests.conftest import write_csv

# Scopes of the keys the fixture makes, by key name.
KEYS = {"read": "read", "pii": "pii", "upload": "upload", "run": "run", "analyst": "read,pii", "all": "read,pii,upload,run"}

# Lines the generator never writes: a bad quantity (quarantined) and a record with one field too many (kept
# with its raw text, the customer id among its fields).
DIRTY = [
    "536366,22752,SET 7 BABUSHKA NESTING BOXES,abc,6/2/2011 8:28,7.65,17850,United Kingdom",
    "536367,22633,HAND WARMER UNION JACK,6,6/3/2011 8:34,1.85,13047,United Kingdom,extra",
]


def build_site(root: Path) -> Path:
    """Generated day files of June 1-8 2011 plus ``DIRTY``, landed and built: lakehouse, warehouse, report."""
    generate_landing(root / "landing", rows=4000, start=date(2011, 6, 1), end=date(2011, 6, 8))
    write_csv(root / "landing" / "dirty.csv", DIRTY)
    run_pipeline(str(root / "landing"), str(root / "lakehouse"), dg.DagsterInstance.ephemeral(), say=lambda _: None)
    return root


def shared_site(tmp_path_factory) -> Path:
    """``build_site`` once per test session, whichever pytest-xdist worker asks first (the others wait on the
    lock and reuse it): the API only reads it, and tests that write copy it first."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return build_site(tmp_path_factory.mktemp("api"))
    root = Path(tempfile.gettempdir()) / f"retail-api-site-{run}"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "ready").exists():
            build_site(root)
            (root / "ready").touch()
    return root


class LogLines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Api:
    url: str
    keys: dict[str, str]
    settings: Settings
    log: LogLines
    instance: dg.DagsterInstance

    def client(self, key: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def wait_until_ready(url: str, process, seconds: float = 60) -> None:
    """Until ``url/ready`` answers 200; RuntimeError if ``process`` (a ``Popen`` of ``serve``) ends first or
    ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the API at {url} did not become ready (exit code {process.poll()})")
        time.sleep(0.2)


def make_keys(state_dir: str) -> dict[str, str]:
    store = KeyStore(state_dir)
    return {name: store.create(name, parse_scopes(scopes)) for name, scopes in KEYS.items()}


@contextmanager
def running_api(site: Path, instance=None, **environ: str):
    """The API of the lakehouse at ``site/lakehouse`` on a free loopback port, with ``environ`` as its
    ``RETAIL_*`` settings; yields an ``Api`` with a key per ``KEYS`` entry."""
    environ.setdefault("RETAIL_API_STATE_DIR", tempfile.mkdtemp(prefix="api-state-"))  # keys of its own
    # Uploads go to a landing zone of its own (never the shared site's, never the checkout's data/landing).
    environ.setdefault("RETAIL_LANDING_DIR", tempfile.mkdtemp(prefix="api-landing-"))
    settings = Settings.from_env({"RETAIL_LAKEHOUSE_URI": str(site / "lakehouse"), **environ})
    keys = make_keys(settings.api_state_dir)
    # A file-backed instance, as `serve` uses: the ephemeral one's in-memory SQLite is bound to its thread.
    instance = instance or dg.DagsterInstance.local_temp(tempfile.mkdtemp(prefix="api-dagster-"))
    app = create_app(settings, instance=instance)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    log = LogLines()
    access = logging.getLogger("retail_pipeline.api.access")
    access.addHandler(log)
    access.setLevel(logging.INFO)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{port}", keys, settings, log, instance)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        access.removeHandler(log)
        sock.close()

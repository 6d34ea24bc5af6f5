"""``make bench-api``: the read API's speed on the loopback, measured, not asserted (pytest does not collect
this file).

- ``/v1/kpis/monthly`` on the demo lakehouse (the default generated data, 541,909 rows, built here): 16
  concurrent closed-loop clients (each with its own connection and its own key) for ``--seconds``; requests
  per second and latency percentiles (targets >= 300 requests/s, p99 <= 50 ms).
- 5,000-row pages of ``silver.transactions`` on a 10M-row lakehouse (generated and built here, or
  ``--big DIR`` holding ``lakehouse/`` from an earlier run): ``--pages`` pages followed by their cursors from
  the first, and as many from random dates (a cursor in the middle of the table); latency per page
  (target <= 200 ms).

The server is ``retail-pipeline serve`` in its own process; the clients share the 2 cores with it.

    python -m retail_pipeline_tests.bench_api [--seconds 10] [--pages 20] [--big DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from retail_pipeline.adapters.api_keys import KeyStore
from retail_pipeline.settings import Settings
from retail_pipeline_tests.app.api_site import wait_until_ready

CLI = [sys.executable, "-m", "retail_pipeline.app.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args: str, cwd: Path) -> str:
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": ""})
    if done.returncode != 0:
        raise SystemExit(f"retail-pipeline {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def build(root: Path, rows: int | None) -> Path:
    """A lakehouse of generated data (the demo's default without ``rows``) under ``root``."""
    if (root / "lakehouse" / "gold").is_dir():
        return root
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _cli("generate", "--out", str(root / "landing"), *(["--rows", str(rows)] if rows else []), cwd=root)
    _cli("run", "--landing", str(root / "landing"), "--lakehouse", str(root / "lakehouse"), cwd=root)
    print(f"  built {root / 'lakehouse'} ({rows or 'demo'} rows) in {time.perf_counter() - started:.0f} s", flush=True)
    return root


class Server:
    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        lakehouse = str(root / "lakehouse")
        store = KeyStore(Settings.from_env(lakehouse_uri=lakehouse).api_state_dir)
        self.keys = [store.create(f"bench-{i}-{os.getpid()}-{self.port}", frozenset({"read"})) for i in range(16)]
        self.process = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port), "--lakehouse", lakehouse], cwd=root,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "DAGSTER_HOME": ""},
        )
        wait_until_ready(self.url, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_kpis(server: Server, seconds: float, clients: int = 16, path: str = "/v1/kpis/monthly") -> None:
    """``clients`` closed-loop clients (asyncio tasks, each with its own connection and key: one thread, so the
    load generator's own locking does not add to the latencies it measures)."""
    latencies: list[float] = []
    failures = 0

    async def client(index: int, stop: float) -> None:
        nonlocal failures
        headers = {"Authorization": f"Bearer {server.keys[index]}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=httpx.Limits(max_connections=1)) as http:
            await http.get(path)  # the connection is open before the clock starts
            await ready.wait()
            while time.monotonic() < stop:
                started = time.perf_counter()
                status = (await http.get(path)).status_code
                latencies.append(time.perf_counter() - started)
                failures += status != 200

    async def load() -> float:
        nonlocal ready
        ready = asyncio.Event()
        stop = time.monotonic() + seconds + 1
        tasks = [asyncio.create_task(client(i, stop)) for i in range(clients)]
        await asyncio.sleep(1)  # every connection open
        latencies.clear()
        started = time.perf_counter()
        ready.set()
        await asyncio.gather(*tasks)
        return time.perf_counter() - started

    ready = None
    elapsed = asyncio.run(load())
    print(
        f"  {path}, {clients} clients, {elapsed:.1f} s: {len(latencies) / elapsed:,.0f} requests/s "
        f"(target >= 300), p50 {_percentile(latencies, 0.5) * 1000:.1f} ms, p99 {_percentile(latencies, 0.99) * 1000:.1f} ms "
        f"(target <= 50), max {max(latencies) * 1000:.1f} ms; {failures} non-200 of {len(latencies):,}",
        flush=True,
    )


def bench_pages(server: Server, pages: int) -> None:
    times: list[float] = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.keys[0]}"}, timeout=60) as http:
        path = "/v1/tables/silver.transactions/rows"
        http.get(path, params={"limit": 1})  # the table's handles opened before the clock starts
        cursor, rows = None, 0
        for _ in range(pages):
            started = time.perf_counter()
            answer = http.get(path, params={"limit": 5000, **({"cursor": cursor} if cursor else {})})
            times.append(time.perf_counter() - started)  # the whole answer received; parsing it is the client's
            body = answer.json()
            rows += len(body["rows"])
            cursor = body["next_cursor"]
        chained = list(times)
        rng = random.Random(1)
        for _ in range(pages):  # a page from a random date: the month it falls in is read
            day = f"2011-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"  # the generated data ends 2011-12-09
            started = time.perf_counter()
            answer = http.get(path, params={"limit": 5000, "from": day})
            times.append(time.perf_counter() - started)
            body = answer.json()
            assert len(body["rows"]) == 5000, body
    print(
        f"  5,000-row pages of silver.transactions ({rows:,} rows followed by cursor, then {pages} from random dates): "
        f"median {_percentile(times, 0.5) * 1000:.0f} ms, p95 {_percentile(times, 0.95) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms (target <= 200); by cursor: median {_percentile(chained, 0.5) * 1000:.0f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of the KPI load (default 10)")
    parser.add_argument("--pages", type=int, default=20, help="pages of each kind (default 20)")
    parser.add_argument("--big", help="a directory holding lakehouse/ with 10M rows (default: build one)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the big lakehouse when built (10M)")
    parser.add_argument("--keep", help="work under this directory (kept) instead of a temporary one")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="retail_bench_api_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        print("== /v1/kpis/monthly on the demo lakehouse ==", flush=True)
        demo = build(work / "demo", None)
        server = Server(demo)
        try:
            bench_kpis(server, args.seconds)
        finally:
            server.stop()
        print(f"== pages on a {args.rows:,}-row lakehouse ==", flush=True)
        big = Path(args.big).resolve() if args.big else build(work / "big", args.rows)
        server = Server(big)
        try:
            bench_pages(server, args.pages)
        finally:
            server.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

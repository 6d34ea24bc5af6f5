"""The lakehouse's writer lock with real processes: a second runner is refused (or waits) while one holds it,
and a holder killed with SIGKILL never blocks the next runner (the kernel drops a flock; a lease expires).
The object-store lease runs against a real S3 API on 127.0.0.1 (moto_server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from deltalake.exceptions import CommitFailedError

from retail_pipeline.adapters.lakehouse import Lakehouse, StaleInputsError, _retry_commit
from retail_pipeline.adapters.writer_lock import LakehouseBusy, writer_lock
from retail_pipeline_tests.adapters.test_object_store import bucket, s3_endpoint, storage_env  # noqa: F401

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from retail_pipeline.adapters.lakehouse import Lakehouse
    from retail_pipeline.adapters.writer_lock import writer_lock
    house = Lakehouse(root=sys.argv[1])
    with writer_lock(house, "the holder process", lease_seconds=int(sys.argv[3])):
        Path(sys.argv[2]).write_text("held")
        time.sleep(600)
    """
)


def hold(root: str, tmp_path: Path, env: dict | None = None, lease_seconds: int = 60) -> subprocess.Popen:
    """A process that takes the lock of ``root`` and keeps it until killed."""
    mark = tmp_path / f"held-{uuid.uuid4().hex[:6]}"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, root, str(mark), str(lease_seconds)],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.05)
    return process


def test_a_second_runner_is_refused_or_waits_and_a_killed_holder_frees_the_lock(tmp_path):
    house = Lakehouse(root=str(tmp_path / "lake"))
    holder = hold(house.root, tmp_path)
    with pytest.raises(LakehouseBusy, match=r"being written by the holder process \(pid \d+"):
        with writer_lock(house, "a second runner", wait=False):
            pass
    said: list[str] = []
    holder.send_signal(signal.SIGKILL)  # no cleanup of any kind: the kernel drops the flock
    holder.wait(timeout=10)
    started = time.monotonic()
    with writer_lock(house, "a second runner", say=said.append):
        assert time.monotonic() - started < 2
    # Re-entrant in one process: the CLI holds it around the runs whose steps take it again.
    with writer_lock(house, "outer", wait=False):
        with writer_lock(house, "inner", wait=False):
            pass
        other = hold_attempt(house)
        assert "being written by outer" in other


def hold_attempt(house: Lakehouse) -> str:
    """What another process is told when it tries to take the lock without waiting."""
    code = (
        "import sys\nfrom retail_pipeline.adapters.lakehouse import Lakehouse\n"
        "from retail_pipeline.adapters.writer_lock import LakehouseBusy, writer_lock\n"
        "try:\n    with writer_lock(Lakehouse(root=sys.argv[1]), 'probe', wait=False):\n        print('acquired')\n"
        "except LakehouseBusy as exc:\n    print(exc)\n"
    )
    return subprocess.run([sys.executable, "-c", code, house.root], capture_output=True, text=True, timeout=60).stdout


def test_a_waiting_runner_says_whom_it_waits_for_and_proceeds_when_the_holder_dies(tmp_path):
    house = Lakehouse(root=str(tmp_path / "lake"))
    holder = hold(house.root, tmp_path)
    said: list[str] = []

    def kill_soon():
        time.sleep(1.0)
        holder.send_signal(signal.SIGKILL)

    import threading

    threading.Thread(target=kill_soon, daemon=True).start()
    with writer_lock(house, "the waiting runner", say=said.append):
        assert holder.poll() == -signal.SIGKILL
    assert len(said) == 1 and "waiting for the lakehouse: the holder process (pid" in said[0]


def test_the_object_store_lease_excludes_a_second_runner_and_expires_after_its_holder_is_killed(tmp_path, s3_endpoint):  # noqa: F811
    env = storage_env(s3_endpoint, uuid.uuid4().hex)
    root = f"s3://{bucket(s3_endpoint)}/retail"
    holder = hold(root, tmp_path, env, lease_seconds=3)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        house = Lakehouse(root=root, **{
            "endpoint_url": env["AWS_ENDPOINT_URL"], "region": env["AWS_REGION"], "allow_http": "true",
            "access_key_id": env["AWS_ACCESS_KEY_ID"], "secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        })
        time.sleep(1.5)  # past half the lease: the holder renews it, so it is still held
        with pytest.raises(LakehouseBusy, match="being written by the holder process"):
            with writer_lock(house, "a second runner", wait=False, lease_seconds=3):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        with writer_lock(house, "a second runner", lease_seconds=3):
            waited = time.monotonic() - started
        assert waited < 6  # at most the lease's life
        with writer_lock(house, "a third runner", wait=False, lease_seconds=3):
            pass  # released on exit: free at once
    finally:
        for key, value in old.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def test_a_commit_conflict_is_retried_only_if_the_inputs_it_read_have_not_moved():
    tries: list[int] = []

    def conflicting():
        tries.append(1)
        if len(tries) == 1:
            raise CommitFailedError("another writer committed version 7 first")

    _retry_commit("silver/transactions", conflicting, inputs_unchanged=lambda: True)
    assert len(tries) == 2  # retried against the newer snapshot

    tries.clear()
    with pytest.raises(StaleInputsError, match="have changed since they were read: not committing stale work"):
        _retry_commit("silver/transactions", conflicting, inputs_unchanged=lambda: False)
    assert len(tries) == 1

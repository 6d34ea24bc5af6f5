"""The writer lock of a lakehouse: one runner at a time writes its tables.

``retail-pipeline run`` (Dagster's in-process executor) and the runs the daemon launches (a process per step)
would otherwise rebuild the same dates at once, each from what it read, and the last commit would win with
stale work. Dagster's run-level limits do not apply to in-process runs, and a killed step never frees a
concurrency-pool slot (STACK_NOTES), so the lock is one the holder's death releases by itself:

- **a local lakehouse**: ``fcntl.flock`` on ``<lakehouse>/_state/writer.lock``; the kernel drops it when the
  holding process exits, however it exits (SIGKILL included);
- **an object store**: a lease, a row of the Delta table ``_state/lease`` with its holder and an expiry,
  taken with a conditional commit (two takers cannot both commit on the same version) and renewed by the
  holder while it runs; a killed holder's lease expires after ``RETAIL_LOCK_LEASE_S`` seconds.

The lock is re-entrant within a process: the CLI holds it for a whole command, and the steps it runs in
process take it again for free. A second runner waits and says whom it waits for, or, told not to wait,
fails at once with ``LakehouseBusy``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse

POLL_SECONDS = 0.5
DEFAULT_LEASE_SECONDS = 60
LEASE_TABLE = "_state/lease"


class LakehouseBusy(RuntimeError):
    """Another runner holds the lakehouse's writer lock (and this one was told not to wait)."""


class LakehouseUnreachable(RuntimeError):
    """The lock could not be taken at all: the lakehouse cannot be reached or written (a missing bucket)."""


@dataclass
class _Held:
    count: int
    release: Callable[[], None]
    holder: dict = field(default_factory=dict)


# lock identity (the lakehouse URI) -> what this process holds
_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()
# Called with the lakehouse URI when this process lets its lock go (caches valid only while it is held).
ON_RELEASE: list[Callable[[str], None]] = []


def holding(lakehouse: Lakehouse) -> bool:
    """Whether this process holds ``lakehouse``'s writer lock (no other runner writes it meanwhile)."""
    return lakehouse.uri("") in _HELD


def holder_description(holder: dict) -> str:
    if not holder:
        return "another runner"
    what = holder.get("what") or "a runner"
    return f"{what} (pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')})"


def _me(what: str) -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "what": what,
        "token": uuid.uuid4().hex,
    }


@contextmanager
def writer_lock(
    lakehouse: Lakehouse,
    what: str,
    wait: bool = True,
    say: Callable[[str], None] | None = None,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
) -> Iterator[None]:
    """Hold the writer lock of ``lakehouse`` for the block (``what`` says who holds it, for the others)."""
    key = lakehouse.uri("")
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
    if held is None:
        me = _me(what)
        try:
            if lakehouse.remote:
                release = _take_lease(lakehouse, me, wait, say, lease_seconds)
            else:
                release = _take_flock(Path(lakehouse.uri("_state")) / "writer.lock", me, wait, say)
        except (LakehouseBusy, KeyboardInterrupt):
            raise
        except Exception as exc:  # the store's own error, first line only (never the credentials)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LakehouseUnreachable(
                f"cannot take the writer lock of the lakehouse {lakehouse.root}: {first[:300]}"
            ) from exc
        with _GUARD:
            _HELD[key] = _Held(1, release, me)
    try:
        yield
    finally:
        with _GUARD:
            entry = _HELD[key]
            entry.count -= 1
            done = entry.count == 0
            if done:
                del _HELD[key]
        if done:
            try:
                for callback in ON_RELEASE:
                    callback(key)
            finally:
                entry.release()


def _take_flock(path: Path, me: dict, wait: bool, say) -> Callable[[], None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        holder = _read_holder(path)
        if not wait:
            os.close(fd)
            raise LakehouseBusy(
                f"the lakehouse is being written by {holder_description(holder)}; try again when it is done "
                "(or let this command wait for it)"
            )
        if not told and say is not None:
            say(f"      waiting for the lakehouse: {holder_description(holder)} is writing it ...")
            told = True
        time.sleep(POLL_SECONDS)
    # Who holds it, for a waiting runner's message (the lock itself is the flock, not this text).
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)

    def release() -> None:
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor drops the flock

    return release


def _read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


# ---- object stores: a lease -------------------------------------------------------------------------------

LEASE_SCHEMA = pl.Schema({"holder": pl.String, "token": pl.String, "expires_at": pl.Datetime("us", "UTC")})


def _lease_row(lakehouse: Lakehouse):
    """(Delta table at its latest version or None, the current lease row as a dict or None)."""
    from deltalake import DeltaTable

    uri = lakehouse.uri(LEASE_TABLE)
    if not DeltaTable.is_deltatable(uri, storage_options=lakehouse.storage_options()):
        return None, None
    table = DeltaTable(uri, storage_options=lakehouse.storage_options())
    frame = pl.from_arrow(table.to_pyarrow_table())
    return table, (frame.row(0, named=True) if frame.height else None)


def _commit_lease(lakehouse: Lakehouse, table, row: dict | None) -> bool:
    """Replace the lease with ``row`` (None: free) against the version ``table`` was read at; False if another
    runner committed first. deltalake would rebase a losing commit onto the winner's (an overwrite of a table
    with no files conflicts with nothing: measured, both commit): with no commit retry, the commit of a given
    version either is the one or fails."""
    from deltalake import CommitProperties, write_deltalake
    from deltalake.exceptions import CommitFailedError

    frame = pl.DataFrame([row] if row else [], schema=LEASE_SCHEMA)
    try:
        if table is None:
            # No lease table yet: create it (free); "error" fails if another runner created it first. The
            # lease itself is then taken against the version read, like any other time.
            write_deltalake(
                lakehouse.uri(LEASE_TABLE), frame.head(0).to_arrow(), mode="error",
                storage_options=lakehouse.storage_options(),
            )
            return False
        write_deltalake(
            table,
            frame.to_arrow(),
            mode="overwrite",
            storage_options=lakehouse.storage_options(),
            commit_properties=CommitProperties(max_commit_retries=0),
        )
    except (CommitFailedError, FileExistsError):
        return False
    except Exception as exc:
        if table is None and "exists" in str(exc).lower():
            return False
        raise
    return True


def _take_lease(lakehouse: Lakehouse, me: dict, wait: bool, say, lease_seconds: int) -> Callable[[], None]:
    told = False
    description = json.dumps({k: me[k] for k in ("pid", "host", "since", "what")})
    while True:
        table, row = _lease_row(lakehouse)
        now = datetime.now(timezone.utc)
        if row is None or row["expires_at"] is None or row["expires_at"] <= now:
            mine = {"holder": description, "token": me["token"], "expires_at": now + timedelta(seconds=lease_seconds)}
            if _commit_lease(lakehouse, table, mine):
                _, check = _lease_row(lakehouse)
                if check is not None and check["token"] == me["token"]:
                    break
            continue
        holder = json.loads(row["holder"]) if row["holder"] else {}
        if not wait:
            raise LakehouseBusy(
                f"the lakehouse is being written by {holder_description(holder)} (lease until "
                f"{row['expires_at']:%Y-%m-%d %H:%M:%S} UTC); try again when it is done"
            )
        if not told and say is not None:
            say(f"      waiting for the lakehouse: {holder_description(holder)} holds its lease ...")
            told = True
        time.sleep(POLL_SECONDS)

    stop = threading.Event()

    log = logging.getLogger(__name__)

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                table, row = _lease_row(lakehouse)
                if row is None or row["token"] != me["token"]:
                    log.error("the lakehouse lease of %s was lost (expired and taken): another runner may write it", lakehouse.root)
                    return
                expires = datetime.now(timezone.utc) + timedelta(seconds=lease_seconds)
                if not _commit_lease(lakehouse, table, {"holder": description, "token": me["token"], "expires_at": expires}):
                    log.warning("renewing the lakehouse lease of %s lost a commit race; trying again", lakehouse.root)
            except Exception as exc:  # the store's first line only: never the credentials
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                log.warning("renewing the lakehouse lease of %s failed (%s); trying again", lakehouse.root, first)

    thread = threading.Thread(target=renew, name="lakehouse-lease", daemon=True)
    thread.start()

    def release() -> None:
        stop.set()
        thread.join(timeout=5)
        table, row = _lease_row(lakehouse)
        if row is not None and row["token"] == me["token"]:
            _commit_lease(lakehouse, table, None)

    return release

"""The build log of a lakehouse (``_state/builds``, a Delta table): what each table was built from, recorded
after each write and committed once per run (``core/build_state.py`` says what the rows mean; ``core/planning.py`` reads them)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
from deltalake import DeltaTable

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.writer_lock import ON_RELEASE, holding
from retail_pipeline.core import build_state, tables
from retail_pipeline.core.build_state import EMPTY, FAILED, PENDING
from retail_pipeline.core.dates import Window

# The log as this process last read or wrote it, per lakehouse: (Delta table, its version, the state), kept
# only while this process holds the lakehouse's writer lock (no other runner writes meanwhile; a lock-less
# append, a failed check's record, moves the version and is read). A run reads the state after each of its
# own appends; replaying the log's commits and reading its small files each time cost ~40 ms per table
# written (measured), so its own appends are applied in memory instead.
_CACHE: dict[str, tuple[DeltaTable, int, pl.DataFrame]] = {}
# Records of this process not committed yet, per lakehouse: while it holds the writer lock, the records of a
# run's tables are committed together when the run (or, with the multiprocess executor, the step) ends
# (``flush``): one commit per run instead of one per table written (~30 ms each here, a round trip or five
# on an object store). A run killed before its flush loses its records: its tables are then behind and the
# next run rebuilds them, which is what a record is for.
_UNCOMMITTED: dict[str, tuple[Lakehouse, list[pl.DataFrame]]] = {}


def _released(root: str) -> None:
    uri = f"{root.rstrip('/')}/{tables.BUILD_LOG}"
    try:
        pending = _UNCOMMITTED.pop(uri, None)
        if pending is not None:  # a holder that never flushed (a run outside the IO manager): commit now
            lakehouse, rows = pending
            lakehouse.append(tables.BUILD_LOG, pl.concat(rows))
    finally:
        _CACHE.pop(uri, None)


ON_RELEASE.append(_released)


def read_state(lakehouse: Lakehouse) -> pl.DataFrame:
    """The build state: the last row of each (table, business date) of the log (empty before any build),
    this process's records not committed yet included."""
    state = _committed_state(lakehouse)
    pending = _UNCOMMITTED.get(lakehouse.uri(tables.BUILD_LOG))
    if pending is None:
        return state
    return build_state.latest(pl.concat([state, *(rows.cast(build_state.SCHEMA) for rows in pending[1])]))


def _committed_state(lakehouse: Lakehouse) -> pl.DataFrame:
    uri = lakehouse.uri(tables.BUILD_LOG)
    cached = _CACHE.get(uri) if holding(lakehouse) else None
    if cached is not None:
        table, version, state = cached
        table.update_incremental()
        if table.version() == version:
            return state
    elif not lakehouse.exists(tables.BUILD_LOG):
        return pl.DataFrame(schema=build_state.SCHEMA)
    else:
        table = lakehouse.table(tables.BUILD_LOG)
    log = pl.from_arrow(table.to_pyarrow_table(columns=build_state.SCHEMA.names()))
    state = build_state.latest(log.cast(build_state.SCHEMA))
    if holding(lakehouse):
        _CACHE[uri] = (table, table.version(), state)
    return state


def _append(lakehouse: Lakehouse, rows: pl.DataFrame) -> None:
    """Record ``rows``: kept for ``flush`` while this process holds the writer lock, else committed now."""
    if not rows.height:
        return
    if holding(lakehouse):
        _UNCOMMITTED.setdefault(lakehouse.uri(tables.BUILD_LOG), (lakehouse, []))[1].append(rows)
    else:
        _commit(lakehouse, rows)


def flush(lakehouse: Lakehouse) -> None:
    """Commit this process's records of ``lakehouse`` not committed yet (one commit)."""
    pending = _UNCOMMITTED.pop(lakehouse.uri(tables.BUILD_LOG), None)
    if pending is not None:
        _commit(lakehouse, pl.concat(pending[1]))


def _commit(lakehouse: Lakehouse, rows: pl.DataFrame) -> None:
    uri = lakehouse.uri(tables.BUILD_LOG)
    cached = _CACHE.get(uri)
    lakehouse.append(tables.BUILD_LOG, rows)
    if cached is not None:
        table, version, state = cached
        table.update_incremental()
        if table.version() == version + 1:  # the one commit since is this append: apply it in memory
            _CACHE[uri] = (table, version + 1, build_state.latest(pl.concat([state, rows.cast(build_state.SCHEMA)])))
        else:
            del _CACHE[uri]


def bronze_tokens(lakehouse: Lakehouse, window: Window) -> dict[date, str]:
    """Per date of ``window``, the token of the landing-file versions bronze holds (EMPTY for none)."""
    dates = window.dates()
    found: dict[date, str] = {}
    if lakehouse.exists(tables.BRONZE_TRANSACTIONS.path):
        scan = lakehouse.scan(tables.BRONZE_TRANSACTIONS.path, "_partition_date", window)
        found = dict(build_state.date_tokens(scan).iter_rows())
    return {day: found.get(day, EMPTY) for day in dates}


def _mark(token: str, pending: bool) -> str:
    return f"{PENDING}{token}" if pending else token


def record_daily(
    lakehouse: Lakehouse, table: str, window: Window, inputs: list[str], run_id: str, pending: bool = False
) -> None:
    """After ``table``'s window was written: per date, what it was built from. Bronze (no daily input) was
    built from the landing files it now holds; any other daily table from what its daily ``inputs`` were
    built from (they are not written while this step holds the lakehouse lock)."""
    dates = window.dates()
    if not inputs:
        tokens = bronze_tokens(lakehouse, window)
    else:
        state = read_state(lakehouse)
        tokens = build_state.combine_dates([build_state.window_tokens(state, name, dates) for name in inputs], dates)
    tokens = {day: _mark(token, pending) for day, token in tokens.items()}
    _append(lakehouse, build_state.rows(table, tokens, None, sorted(inputs), run_id, _now()))


def record_whole(lakehouse: Lakehouse, table: str, inputs: list[str], run_id: str, pending: bool = False) -> str:
    """After a whole-history output was written: a digest of the tables it read (their build state now)."""
    built_from = build_state.inputs_token(read_state(lakehouse), inputs)
    _append(lakehouse, build_state.rows(table, None, _mark(built_from, pending), sorted(set(inputs)), run_id, _now()))
    return built_from


def record_content(lakehouse: Lakehouse, table: str, frame: pl.DataFrame, run_id: str, pending: bool = False) -> None:
    """After a reference table was written: a digest of its content (what a whole-history output reading it
    was built from)."""
    token = _mark(build_state.content_token(frame), pending)
    _append(lakehouse, build_state.rows(table, None, token, [], run_id, _now()))


def confirm_runs(lakehouse: Lakehouse, run_ids: set[str]) -> None:
    """``run_ids`` succeeded (every blocking check of theirs passed): their pending records stand."""
    if run_ids:
        _append(lakehouse, build_state.confirmed(read_state(lakehouse), run_ids, _now()))
        flush(lakehouse)


def record_failed_check(lakehouse: Lakehouse, table: str, check: str, window: Window | None, run_id: str) -> None:
    """A blocking check of ``table`` failed: its dates (or the whole table) stay behind until one passes."""
    marker = f"{FAILED}{check}"
    if window is not None:
        tokens = {day: marker for day in window.dates()}
        _append(lakehouse, build_state.rows(table, tokens, None, [], run_id, _now()))
    else:
        _append(lakehouse, build_state.rows(table, None, marker, [], run_id, _now()))


def record_source_changed(lakehouse: Lakehouse, table: str, window: Window, changed: dict[str, str], run_id: str) -> None:
    """``table`` found landed files changed (path -> the sha256 it read) and wrote nothing of ``window``:
    its dates stay behind and the next landing reads the files again (``build_state.changed_sources``)."""
    tokens = {day: build_state.SOURCE_CHANGED for day in window.dates()}
    inputs = [f"{sha}:{path}" for path, sha in sorted(changed.items())]
    _append(lakehouse, build_state.rows(table, tokens, None, inputs, run_id, _now()))


def _now() -> datetime:
    return datetime.now(timezone.utc)

"""Test-only crash hook (test_safety.py): not product code, and inert unless ``RETAIL_CRASH_TABLE`` is set.

Python imports ``sitecustomize`` at start-up from the first directory of ``sys.path`` that has one, so a test puts
this directory on the PYTHONPATH of a subprocess to make that process kill itself with SIGKILL in the middle of
the write of one Delta table (``RETAIL_CRASH_TABLE``, e.g. ``silver/transactions``): after deltalake has written
Parquet data files of the new version, and before it can commit, deterministically (no sleep race):

- deltalake receives the rows as a RecordBatchReader; after the last batch the reader does not end the stream
  (so deltalake cannot commit) but waits until new data files appear in the table's directory, records what it
  saw in ``RETAIL_CRASH_REPORT`` (JSON) and SIGKILLs its own process;
- deltalake buffers up to 8,192 rows per DataFusion partition (one per CPU) before handing them to its Parquet
  writer, and a file is flushed once it exceeds ``target_file_size``: the hook pins the process to one CPU and
  sets ``target_file_size=1``, so a table write of more than 8,192 rows puts files on disk mid-stream;
- the Delta versions of every table of the lakehouse when the write began are recorded too.

If no data file appears within 60 s the process exits with code 3 and says so: the test then fails, never
passing without a real mid-write crash.

``RETAIL_KILL_AFTER`` kills between commits instead (the healing tests, ``test_healing.py``): the process
SIGKILLs itself right after one commit, named as

- ``<layer>/<table>``: after that Delta table's commit (before the build log records it);
- ``record:<layer>/<table>``: after the build-log commit that records it (a run's records are committed
  together when it ends; the warehouse and the report are recorded there too: ``record:gold/warehouse``);
- ``before-record:<layer>/<table>``: just before that build-log commit (the table or file written, not
  recorded);

with ``@N`` for the N-th such commit of the process (default the first). ``RETAIL_KILL_MARK`` (a path) is
written just before the kill, so a test knows the kill was real. ``RETAIL_PAUSE_AFTER`` (same syntax) pauses
there for ``RETAIL_PAUSE_SECONDS`` instead (writing ``RETAIL_KILL_MARK`` first), or until the path
``RETAIL_PAUSE_UNTIL`` exists, holding whatever the process holds, the lakehouse's writer lock included: the
concurrency tests start a second runner meanwhile.
"""

import os

_KILL_AFTER = os.environ.get("RETAIL_KILL_AFTER") or os.environ.get("RETAIL_PAUSE_AFTER")
_PAUSE = not os.environ.get("RETAIL_KILL_AFTER") and bool(os.environ.get("RETAIL_PAUSE_AFTER"))

if _KILL_AFTER:
    import signal
    from pathlib import Path

    import deltalake

    _point, _, _nth = _KILL_AFTER.partition("@")
    _target = int(_nth or 1)
    _seen = [0]
    _kind, _, _name = _point.rpartition(":")
    _inner_write = deltalake.write_deltalake

    def _names(data) -> set[str]:
        try:
            return set(data.column("table").to_pylist())
        except Exception:
            return set()

    def _die() -> None:
        mark = os.environ.get("RETAIL_KILL_MARK")
        if mark:
            Path(mark).write_text(_KILL_AFTER)
        if _PAUSE:
            import time

            deadline = time.monotonic() + float(os.environ.get("RETAIL_PAUSE_SECONDS", "5"))
            resume = os.environ.get("RETAIL_PAUSE_UNTIL")
            while time.monotonic() < deadline and not (resume and Path(resume).exists()):
                time.sleep(0.05)
            return
        os.kill(os.getpid(), signal.SIGKILL)

    def write_deltalake(table_or_uri, data, **kwargs):
        uri = str(getattr(table_or_uri, "table_uri", table_or_uri)).rstrip("/")
        if _kind:
            hit = uri.endswith("_state/builds") and _name in _names(data)
        else:
            hit = uri.endswith(_name)
        if hit:
            _seen[0] += 1
        if hit and _seen[0] == _target and _kind == "before-record":
            _die()
        result = _inner_write(table_or_uri, data, **kwargs)
        if hit and _seen[0] == _target:
            _die()
        return result

    deltalake.write_deltalake = write_deltalake

_TABLE = os.environ.get("RETAIL_CRASH_TABLE")

if _TABLE:
    import json
    import signal
    import sys
    import time
    from pathlib import Path

    import deltalake
    import pyarrow as pa

    _write_deltalake = deltalake.write_deltalake
    _REPORT = Path(os.environ["RETAIL_CRASH_REPORT"])

    def _data_files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}

    def _versions(lakehouse: Path) -> dict[str, int]:
        return {
            str(log.parent.relative_to(lakehouse)): deltalake.DeltaTable(str(log.parent)).version()
            for log in sorted(lakehouse.glob("*/*/_delta_log"))
        }

    def write_deltalake(table_or_uri, data, **kwargs):
        uri = Path(str(table_or_uri))
        if not str(table_or_uri).rstrip("/").endswith(_TABLE):
            return _write_deltalake(table_or_uri, data, **kwargs)
        lakehouse = uri.parents[1]
        report = {"table": _TABLE, "versions_at_write": _versions(lakehouse), "files_before": sorted(_data_files(uri))}
        table = data if isinstance(data, pa.Table) else pa.table(data)
        report["rows"] = table.num_rows
        if hasattr(os, "sched_setaffinity"):  # Linux; elsewhere the day must exceed 8,192 rows per CPU
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

        def batches():
            yield from table.to_batches(max_chunksize=1024)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                new = _data_files(uri) - set(report["files_before"])
                if new:
                    report["new_files"] = sorted(new)
                    _REPORT.write_text(json.dumps(report))
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(0.01)
            sys.stderr.write(f"crash hook: no data file of {_TABLE} appeared before the end of the stream\n")
            sys.stderr.flush()
            os._exit(3)

        reader = pa.RecordBatchReader.from_batches(table.schema, batches())
        return _write_deltalake(table_or_uri, reader, **{**kwargs, "target_file_size": 1})

    deltalake.write_deltalake = write_deltalake

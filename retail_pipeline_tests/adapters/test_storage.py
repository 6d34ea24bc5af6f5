"""The local event log (``retail_pipeline.adapters.event_log``, configured in dagster.yaml) under the webserver's load:
many threads reading and writing at once."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]


def test_the_event_log_serves_more_threads_than_its_pool_holds(tmp_path, monkeypatch):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_DATA_DIR", str(tmp_path))
    threads, events = 48, 5  # the webserver answers from a pool of dozens of threads

    def work(worker: int) -> int:
        key = dg.AssetKey(["load", f"t{worker}"])
        for n in range(events):
            instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"n": n}))
            instance.get_latest_materialization_event(key)
        return instance.get_latest_materialization_event(key).asset_materialization.metadata["n"].value

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.event_log_storage).__name__ == "FastSqliteEventLogStorage"
        with ThreadPoolExecutor(max_workers=threads) as pool:
            last = list(pool.map(work, range(threads)))
        assert last == [events - 1] * threads
        stored = instance.fetch_materializations(dg.AssetKey(["load", "t0"]), limit=100).records
        assert len(stored) == events
        assert len(instance.get_asset_keys()) == threads


def test_the_private_dagster_api_the_fast_store_builds_on_is_still_there():
    """FastSqliteEventLogStorage subclasses a private class of Dagster and overrides its ``_connect``: an
    upgrade that renames or reshapes them fails here, not in a user's run. The fallback is the stock store
    (dagster.yaml says how), tested below."""
    import inspect

    from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
    from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

    from retail_pipeline.adapters.event_log import FastSqliteEventLogStorage

    assert issubclass(FastSqliteEventLogStorage, ConsolidatedSqliteEventLogStorage)
    base = inspect.getattr_static(ConsolidatedSqliteEventLogStorage, "_connect")
    assert callable(getattr(base, "__wrapped__", base))  # a context manager method the store replaces
    assert isinstance(SQLITE_BUSY_TIMEOUT_SECONDS, (int, float))
    assert "_conn_string" in inspect.getsource(ConsolidatedSqliteEventLogStorage.__init__)


def test_the_documented_fallback_without_the_fast_store_records_runs(tmp_path, monkeypatch):
    """dagster.yaml without its event_log_storage block: Dagster's stock SQLite event log, what a user falls
    back to if the fast store breaks on an upgrade."""
    text = (REPO / "dagster.yaml").read_text()
    start = text.index("event_log_storage:")
    end = text.index("schedule_storage:")
    (tmp_path / "dagster.yaml").write_text(text[:start] + text[end:])
    monkeypatch.setenv("DAGSTER_DATA_DIR", str(tmp_path))

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.event_log_storage).__name__ != "FastSqliteEventLogStorage"
        assert dg.materialize([probe], instance=instance).success
        assert instance.get_latest_materialization_event(probe.key) is not None

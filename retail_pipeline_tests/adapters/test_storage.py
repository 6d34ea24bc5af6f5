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
    # The planned-check rows it writes itself (serialising the event once): the method it replaces and the
    # columns it fills must still be the ones Dagster has.
    planned = inspect.signature(ConsolidatedSqliteEventLogStorage._store_asset_check_evaluation_planned)
    assert list(planned.parameters) == ["self", "event", "event_id"]
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable

    assert {c.name for c in AssetCheckExecutionsTable.columns} >= {
        "asset_key", "check_name", "partition", "run_id", "execution_status", "evaluation_event",
        "evaluation_event_timestamp", "evaluation_event_storage_id",
    }


def _range_run_with_a_check(home: Path) -> dict:
    """A 3-day range run of a partitioned asset with a check, on the instance in ``home``: what it stored, without
    ids and timestamps (planned and evaluated checks, materialisations and their indexed tags, the asset's
    latest materialisation)."""
    import sqlite3

    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10")

    @dg.asset(partitions_def=days, check_specs=[dg.AssetCheckSpec("positive", asset="probe")])
    def probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        for key in context.partition_keys:
            context.add_asset_metadata({"day": key}, partition_key=key)
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="positive", passed=True)])

    @dg.asset(partitions_def=days, deps=[probe])
    def after(context: dg.AssetExecutionContext) -> None:
        pass

    with dg.DagsterInstance.from_config(str(home)) as instance:
        job = dg.Definitions(assets=[probe, after]).resolve_implicit_global_asset_job_def()
        tags = {"dagster/asset_partition_range_start": "2024-01-02", "dagster/asset_partition_range_end": "2024-01-04"}
        assert job.execute_in_process(instance=instance, tags=tags).success
        stored = {
            "done": sorted(instance.get_materialized_partitions(probe.key)),
            "latest": instance.get_latest_materialization_event(after.key).dagster_event.partition,
            "metadata": sorted(
                (r.partition_key, r.asset_materialization.metadata["day"].value)
                for r in instance.fetch_materializations(probe.key, limit=10).records
            ),
            # Tag values are data versions, which differ from run to run: which tags each event has.
            "tags": sorted(sorted(t) for t in instance.event_log_storage.get_event_tags_for_asset(after.key)),
        }
    index = home / "event_log.db" if (home / "event_log.db").exists() else next(home.rglob("index.db"))
    with sqlite3.connect(index) as db:
        stored["checks"] = db.execute(
            "SELECT asset_key, check_name, partition, execution_status, evaluation_event IS NOT NULL"
            " FROM asset_check_executions ORDER BY partition"
        ).fetchall()
        stored["assets"] = db.execute(
            "SELECT asset_key, last_materialization IS NOT NULL, last_materialization_timestamp IS NOT NULL"
            " FROM asset_keys ORDER BY asset_key"
        ).fetchall()
    return stored


def test_the_fast_store_records_range_runs_as_the_stock_store_does(tmp_path, monkeypatch):
    """Planned checks written by the fast store, and materialisations written in batches
    (``DAGSTER_EVENT_BATCH_SIZE``), give what the stock store stores one event at a time."""
    import retail_pipeline.adapters.event_log as event_log
    from retail_pipeline.adapters.event_log import FastSqliteEventLogStorage

    monkeypatch.setattr(event_log, "PLANNED_ROWS_PER_STATEMENT", 2)  # three days' planned checks in two statements
    batches = []
    store_batch = FastSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(
        FastSqliteEventLogStorage, "store_event_batch", lambda self, events: batches.append((len(events), events[0].dagster_event_type.value)) or store_batch(self, events)
    )
    text = (REPO / "dagster.yaml").read_text()
    stored = {}
    for name, config, batch in (
        ("stock", text[: text.index("event_log_storage:")] + text[text.index("schedule_storage:") :], "0"),
        ("fast", text, "0"),
        ("fast-batched", text, "2"),  # a batch of two, then one alone
    ):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(config)
        monkeypatch.setenv("DAGSTER_DATA_DIR", str(home))
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch)
        stored[name] = _range_run_with_a_check(home)
    assert stored["fast"] == stored["stock"]
    assert stored["fast-batched"] == stored["stock"]
    # Each asset's first two days in one batch (the third is stored alone).
    assert [b for b in batches if b[1] == "ASSET_MATERIALIZATION"] == [(2, "ASSET_MATERIALIZATION")] * 2
    days = ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert [row[2] for row in stored["stock"]["checks"]] == [None, *days]
    assert stored["stock"]["done"] == days
    assert stored["stock"]["metadata"] == [(d, d) for d in days]
    assert stored["stock"]["latest"] == "2024-01-04"
    assert len(stored["stock"]["tags"]) == 3 and all(stored["stock"]["tags"])


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

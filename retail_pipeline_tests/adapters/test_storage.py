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

"""Table maintenance on real Delta tables: fewer files, the same rows, and the job through Dagster."""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import SCHEMA_VERSION, Lakehouse
from retail_pipeline.adapters.maintenance import files, maintain
from retail_pipeline.app.runner import backfill
from retail_pipeline.core.dates import Window
from retail_pipeline.core.tables import BY_PATH, SQL_TABLES
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.resources import build_resources
from retail_pipeline_tests.app.test_pipeline import assert_same_tables, snapshot, write_days


def test_maintenance_compacts_and_vacuums_without_changing_the_rows(tmp_path):
    house = Lakehouse(root=str(tmp_path / "lakehouse"))
    first = date(2011, 1, 3)
    for i in range(10):  # ten one-day runs into one month: ten small files, and overwritten ones beside them
        day = first + timedelta(days=i)
        frame = pl.DataFrame({"business_date": [day] * 3, "value": [i, i + 1, i + 2]})
        house.write("t/daily", frame, "business_date", Window(day, day + timedelta(days=1)))
    house.write("t/daily", pl.DataFrame({"business_date": [first], "value": [99]}), "business_date", Window(first, first + timedelta(days=1)))
    rows = house.read("t/daily").sort("business_date", "value")
    before = files(house, "t/daily")
    assert (before.active, before.stored) == (10, 11)  # the first day's old file is still stored

    done = maintain(house, "t/daily", retention_hours=0)
    assert done.before == before
    assert (done.after.active, done.after.stored) == (1, 1)  # one month, one file, nothing unreferenced
    assert done.files_compacted == 10 and done.files_vacuumed == 11  # the ten compacted and the overwritten one
    assert done.after.stored_bytes < before.stored_bytes
    assert house.read("t/daily").sort("business_date", "value").equals(rows)
    assert house.schema_version("t/daily") == SCHEMA_VERSION  # maintenance commits are not writes

    again = maintain(house, "t/daily", retention_hours=0)
    assert (again.files_compacted, again.files_vacuumed, again.after) == (0, 0, done.after)


def test_the_default_retention_keeps_files_a_reader_may_still_need(tmp_path):
    house = Lakehouse(root=str(tmp_path / "lakehouse"))
    for value in (1, 2):
        house.write("t/whole", pl.DataFrame({"value": [value]}))
    done = maintain(house, "t/whole")  # 168 hours: nothing is old enough
    assert done.files_vacuumed == 0 and done.after.stored == 2


def test_the_maintenance_job_after_a_day_by_day_backfill(landing, tmp_path):
    write_days(landing)
    root = tmp_path / "lakehouse"
    backfill(str(landing), str(root), dg.DagsterInstance.ephemeral(), date(2010, 12, 1), date(2010, 12, 3), 1, lambda _: None)
    house = Lakehouse(root=str(root))
    tables = snapshot(house)
    stored = files(house, "silver/transactions").stored
    assert stored >= 3  # one file per day's run
    assert files(house, "silver/partition_stats").stored >= 3

    defs = build_definitions(resources=build_resources(str(landing), str(root)))
    result = defs.resolve_job_def("maintenance_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config={"ops": {"maintain_tables": {"config": {"retention_hours": 0}}}}
    )
    assert result.success
    observed = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.event_specific_data.asset_observation.metadata.items()}
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    }
    # An observation per asset table; the side tables (not assets) are maintained all the same.
    assert set(observed) == {t for t in SQL_TABLES.values() if house.exists(t) and BY_PATH[t].is_asset}
    silver = observed["silver/transactions"]
    assert (silver["files_stored_before"], silver["files_stored_after"], silver["files_active_after"]) == (stored, 1, 1)
    stats = files(house, "silver/partition_stats")
    assert (stats.stored, stats.active) == (1, 1)
    assert_same_tables(tables, snapshot(house))


def test_the_table_catalogue_lists_every_delta_table_of_the_graph(landing, lakehouse_root):
    defs = build_definitions(resources=build_resources(str(landing), str(lakehouse_root)))
    not_delta = {"gold/warehouse", "gold/kpi_report"}
    keys = {"/".join(key.path) for key in defs.resolve_asset_graph().get_all_asset_keys()}
    side = {path for path, table in BY_PATH.items() if not table.is_asset}
    assert side == {"bronze/erased_rows", "silver/partition_stats"}
    assert set(SQL_TABLES.values()) == (keys - not_delta) | side

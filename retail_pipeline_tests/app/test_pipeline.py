"""The asset graph run by Dagster: in memory for logic, on a temporary lakehouse for IO and invariants."""

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from retail_pipeline.adapters.lakehouse import SCHEMA_VERSION, Lakehouse
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.adapters.reference_apis import CountriesApi, FxApi
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import PER_RUN_COLUMNS
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from retail_pipeline.defs.resources import ReportsDir, build_resources
from retail_pipeline_tests.conftest import write_csv

REPO = Path(__file__).resolve().parents[2]
REFERENCE = ["bronze/landed_files", "bronze/fx_rates", "bronze/countries", "silver/fx_daily", "silver/dim_country"]
DAILY = [table.path for table in tables.DAILY_TABLES if table.is_asset]  # side tables come with their owners
DAILY_TABLES = {
    "bronze/transactions": "_partition_date",
    "silver/transactions": "invoice_date",
    "silver/quarantine": "_partition_date",
    "silver/partition_stats": "business_date",
    "gold/daily_sales": "invoice_date",
    "gold/dq_scorecard": "business_date",
}

DAYS = {
    "2010-12-01": [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
        '536365,22633,"HAND WARMER, ""UNION"" JACK",6,12/1/2010 8:28,1.85,17850,United Kingdom',
        "536366,21777,RECIPE BOX,4,12/1/2010 9:02,7.95,,EIRE",
        "536367,22139,bad date,1,13/45/2010 9:41,1.0,,United Kingdom",
    ],
    "2010-12-02": [
        "C536379,D,Discount,-1,12/2/2010 9:41,27.5,14527,United Kingdom",
        "536380,POST,POSTAGE,1,12/2/2010 9:41,18,,RSA",
        "536381,22139,bad qty,x,12/2/2010 9:41,1.0,,USA",
    ],
    "2010-12-03": [
        "536390,21777,RECIPE BOX,2,12/3/2010 10:00,7.95,12583,France",
        "536391,21777,damaged,-3,12/3/2010 11:00,0,,United Kingdom",
    ],
}


def write_days(landing: Path, days=DAYS) -> None:
    for day, lines in days.items():
        write_csv(landing / f"online_retail_{day}.csv", lines)


def materialize(resources: dict, selection: list[str], start: str | None = None, end: str | None = None):
    defs = build_definitions(resources=resources)
    tags = {RANGE_START_TAG: start, RANGE_END_TAG: end or start} if start else {}
    result = dg.materialize(
        list(defs.assets), selection=selection, resources=resources, instance=dg.DagsterInstance.ephemeral(), tags=tags
    )
    assert result.success
    return result


def snapshot(house: Lakehouse, marts: bool = True) -> dict[str, pl.DataFrame]:
    """Every daily table (and a mart), without per-run columns, in a canonical order."""
    tables = {}
    for table in [*DAILY_TABLES, *(["gold/monthly_kpis"] if marts else [])]:
        frame = house.read(table)
        frame = frame.drop([c for c in PER_RUN_COLUMNS if c in frame.columns])
        tables[table] = frame.sort(frame.columns, nulls_last=True)
    return tables


def assert_same_tables(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for table in a:
        assert a[table].equals(b[table]), f"{table} differs:\n{a[table]}\n{b[table]}"


@pytest.fixture
def resources(landing, lakehouse_root) -> dict:
    write_days(landing)
    return build_resources(str(landing), str(lakehouse_root))


def test_code_location_loads():
    env = {**os.environ, "DAGSTER_HOME": str(REPO), "DAGSTER_DATA_DIR": str(REPO / "data" / "dagster")}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location retail_pipeline" in done.stdout + done.stderr


def test_asset_logic_in_memory(landing, lakehouse_root):
    write_days(landing)
    defs = build_definitions(resources=build_resources(str(landing), str(lakehouse_root)))
    result = dg.materialize_to_memory(
        list(defs.assets),
        resources={
            "landing": LandingZone(root=str(landing)),
            "lakehouse": Lakehouse(root=str(lakehouse_root)),
            "fx_api": FxApi(),  # no URL: offline
            "countries_api": CountriesApi(),
            # Required by the warehouse and report assets, which are not selected here.
            "duckdb": DuckDBResource(database=str(lakehouse_root.parent / "warehouse.duckdb")),
            "reports": ReportsDir(directory=str(lakehouse_root.parent / "reports")),
        },
        selection=REFERENCE + DAILY,
        partition_key="2010-12-01",
    )
    assert result.success
    silver = result.output_for_node("silver_transactions", "transactions").collect()
    quarantine = result.output_for_node("silver_transactions", "quarantine").collect()
    assert silver["_source_row"].to_list() == [1, 3, 4]  # row 2 duplicates row 1
    assert silver["country_iso2"].to_list() == ["GB", "GB", "IE"]
    assert quarantine["reason_code"].to_list() == ["unparseable_date"]
    daily = result.output_for_node("gold__daily_sales").collect()
    uk = daily.filter(pl.col("country") == "United Kingdom").row(0, named=True)
    assert uk["gross_revenue_gbp"] == round(6 * 2.55 + 6 * 1.85, 2)
    assert not lakehouse_root.exists() or not (lakehouse_root / "silver").exists()  # nothing written


SPANNING = [  # one export covering a month boundary, one line a day (a lone group per day), and an empty day
    "540001,85123A,HEART,3,12/30/2010 10:00,1.10,17850,United Kingdom",
    "540002,22633,WARMER,1,12/31/2010 10:00,0.605,17850,France",
    "540003,21777,RECIPE BOX,7,1/2/2011 10:00,2.2,12583,EIRE",
    "540003,21777,RECIPE BOX,7,1/2/2011 10:00,2.2,12583,EIRE",
]


@pytest.mark.parametrize(
    ("files", "start", "end", "silver_rows"),
    [(DAYS, "2010-12-01", "2010-12-03", 7), ({"spanning": SPANNING}, "2010-12-29", "2011-01-03", 3)],
    ids=["one-file-a-day", "one-file-across-a-month-boundary"],
)
def test_a_range_run_equals_the_same_days_run_one_by_one(landing, tmp_path, files, start, end, silver_rows):
    write_days(landing, files)
    ranged = build_resources(str(landing), str(tmp_path / "ranged"))
    daily = build_resources(str(landing), str(tmp_path / "daily"))
    for res in (ranged, daily):
        materialize(res, REFERENCE)
    materialize(ranged, [*DAILY, "gold/monthly_kpis"], start, end)
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    for offset in range((last - first).days + 1):
        materialize(daily, DAILY, (first + timedelta(days=offset)).isoformat())
    materialize(daily, ["gold/monthly_kpis"])
    a, b = snapshot(ranged["lakehouse"]), snapshot(daily["lakehouse"])
    assert a["silver/transactions"].height == silver_rows
    assert_same_tables(a, b)


def test_running_a_partition_twice_changes_nothing(resources):
    materialize(resources, REFERENCE)
    materialize(resources, [*DAILY, "gold/monthly_kpis"], "2010-12-01", "2010-12-03")
    house = resources["lakehouse"]
    before, version = snapshot(house), house.version("silver/transactions")
    materialize(resources, [*DAILY, "gold/monthly_kpis"], "2010-12-02")
    assert house.version("silver/transactions") == version + 1
    assert_same_tables(before, snapshot(house))


def test_rows_are_conserved_per_partition(resources):
    report = run_pipeline(resources["landing"].root, resources["lakehouse"].root, dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)
    house = report.lakehouse
    counts = {}
    for table, column in DAILY_TABLES.items():
        counts[table] = house.read(table).group_by(pl.col(column).alias("d")).len().rename({"len": table})
    stats = house.read("silver/partition_stats").rename({"business_date": "d"})
    joined = stats.join(counts["bronze/transactions"], on="d", how="left").join(
        counts["silver/transactions"], on="d", how="left").join(counts["silver/quarantine"], on="d", how="left").fill_null(0)
    assert joined.height == 3
    for row in joined.iter_rows(named=True):
        assert row["bronze/transactions"] == row["bronze_rows"]
        assert row["silver/transactions"] == row["silver_rows"]
        assert row["silver/quarantine"] == row["quarantined_rows"]
        assert row["bronze_rows"] == row["silver_rows"] + row["quarantined_rows"] + row["duplicates_dropped"]
    assert joined["duplicates_dropped"].sum() == 1
    assert joined["quarantined_rows"].sum() == 2


def test_a_byte_identical_file_is_ingested_once(resources, landing):
    (landing / "resent_by_the_shop.csv").write_bytes((landing / "online_retail_2010-12-02.csv").read_bytes())
    report = run_pipeline(str(landing), resources["lakehouse"].root, dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)
    house = report.lakehouse
    manifest = house.read("bronze/landed_files")
    dup = manifest.filter(pl.col("path") == "resent_by_the_shop.csv").row(0, named=True)
    assert (dup["status"], dup["duplicate_of"]) == ("duplicate", "online_retail_2010-12-02.csv")
    bronze = house.read("bronze/transactions")
    assert bronze.height == sum(len(lines) for lines in DAYS.values())
    assert "resent_by_the_shop.csv" not in bronze["_source_file"].to_list()


def test_a_changed_file_replaces_its_rows_in_old_and_new_dates_and_a_deleted_one_is_reported(resources, landing):
    house = resources["lakehouse"]
    run = lambda: run_pipeline(str(landing), house.root, dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)  # noqa: E731
    run()
    # The shop re-exports its last day with the rows dated a day earlier: 2010-12-03 is then a date no active
    # file holds, yet bronze still has the old rows there and they must go.
    path = landing / "online_retail_2010-12-03.csv"
    write_csv(path, [line.replace("12/3/2010", "12/2/2010") for line in DAYS["2010-12-03"]])
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    run()
    bronze = house.read("bronze/transactions")
    from_file = bronze.filter(pl.col("_source_file") == path.name)
    assert from_file["_partition_date"].unique().to_list() == [date(2010, 12, 2)]
    assert from_file["_file_sha256"].n_unique() == 1
    assert bronze.filter(pl.col("_partition_date") == date(2010, 12, 3)).height == 0
    assert house.read("silver/transactions").filter(pl.col("invoice_date") == date(2010, 12, 3)).height == 0

    (landing / "online_retail_2010-12-01.csv").unlink()
    run()
    manifest = house.read("bronze/landed_files")
    assert manifest.filter(pl.col("path") == "online_retail_2010-12-01.csv")["status"].to_list() == ["missing"]


def test_a_file_changed_between_landing_and_bronze_is_reported_and_the_next_run_takes_it(resources, landing):
    """Bronze finds a file's bytes no longer match the sha256 the landing recorded: it writes nothing of those
    dates, says what happens next, and records the file in the build state, so the next plain run reads it
    again and rebuilds its dates."""
    from retail_pipeline.adapters.build_state import read_state
    from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG

    house = resources["lakehouse"]
    write_days(landing)
    run = lambda: run_pipeline(str(landing), house.root, dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)  # noqa: E731
    run()
    path = landing / "online_retail_2010-12-02.csv"
    path.write_bytes(path.read_bytes().replace(b"POSTAGE", b"POSTAGX"))
    defs = build_definitions(resources=resources)
    bronze_only = dg.materialize(
        list(defs.assets), selection=["bronze/transactions"], resources=resources,
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        tags={RANGE_START_TAG: "2010-12-02", RANGE_END_TAG: "2010-12-02"},
    )
    assert not bronze_only.success
    failure = next(e for e in bronze_only.all_events if e.is_step_failure).event_specific_data.error
    message = str(failure.message) + "".join(str(c.message) for c in (failure.cause,) if c)
    assert "changed since it was landed" in message and "read again" in message
    assert "materialise bronze/landed_files again" not in message
    marks = read_state(house).filter(pl.col("table") == "bronze/transactions", pl.col("business_date") == date(2010, 12, 2))
    assert marks["built_from"].to_list() == ["failed:source_changed"]

    run()
    day2 = house.read("bronze/transactions").filter(pl.col("_partition_date") == date(2010, 12, 2))
    assert "POSTAGX" in day2["description"].to_list() and "POSTAGE" not in day2["description"].to_list()


def test_running_the_whole_pipeline_twice_writes_the_same_tables(resources, landing):
    house = resources["lakehouse"]
    run = lambda: run_pipeline(str(landing), house.root, dg.DagsterInstance.ephemeral(), say=lambda _: None)  # noqa: E731
    run()
    first = snapshot(house)
    others = ("bronze/landed_files", "bronze/fx_rates", "bronze/countries", "silver/fx_daily", "silver/dim_country")

    def canonical(table: str) -> pl.DataFrame:
        frame = house.read(table).drop("_fetched_at", "_run_id", strict=False)
        return frame.sort(frame.columns, nulls_last=True)

    before = {t: canonical(t) for t in others}
    run()
    assert_same_tables(first, snapshot(house))
    assert_same_tables(before, {t: canonical(t) for t in others})


def test_a_file_with_corrupted_lines_lands_and_every_row_is_accounted_for(landing, lakehouse_root):
    from retail_pipeline.app.generate import generate_landing

    generate_landing(landing, rows=2000, seed=7, start=date(2011, 3, 1), end=date(2011, 3, 3))
    path = landing / "online_retail_2011-03-02.csv"
    lines = path.read_text().splitlines()
    corruptions = [
        lambda l: l.rsplit(",", 1)[0],  # a field missing
        lambda l: l + ",surplus",  # a field too many
        lambda l: l.replace(",", ",abc,", 1).rsplit(",", 1)[0],  # garbage shifted into place
        lambda l: ",".join(p if i != 3 else "six" for i, p in enumerate(l.split(","))) if '"' not in l else l + ",x",
    ]
    corrupted = set(range(3, len(lines), 20))  # 5% of the lines
    for n, i in enumerate(sorted(corrupted)):
        lines[i] = corruptions[n % len(corruptions)](lines[i])
    lines.insert(10, '536999,22633,12 PENCILS "SMALL TUBE,1,3/2/2011 9:00,0.65,,EIRE')  # a stray quote
    path.write_text("\n".join(lines) + "\n")

    report = run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)
    house = report.lakehouse
    manifest = house.read("bronze/landed_files")
    assert manifest["status"].to_list() == ["active"] * 3
    stats = house.read("silver/partition_stats").filter(pl.col("bronze_rows") > 0)
    for row in stats.iter_rows(named=True):
        assert row["bronze_rows"] == row["silver_rows"] + row["quarantined_rows"] + row["duplicates_dropped"]
    day = stats.filter(pl.col("business_date") == date(2011, 3, 2)).row(0, named=True)
    assert day["bronze_rows"] == len(lines) - 1
    quarantine = house.read("silver/quarantine").filter(pl.col("_source_file") == path.name)
    assert quarantine.height >= len(corrupted)
    assert quarantine["reason_code"].null_count() == 0 and quarantine["_source_row"].null_count() == 0
    assert set(quarantine["reason_code"]) >= {"wrong_field_count", "unparseable_quantity"}
    stray = house.read("silver/transactions").filter(pl.col("invoice_no") == "536999")
    assert stray["description"].to_list() == ['12 PENCILS "SMALL TUBE']


def test_a_workbook_flows_to_silver_with_its_sheet_and_row(landing, lakehouse_root):
    from datetime import datetime as dt

    from retail_pipeline_tests.adapters.test_landing import II, _workbook

    (landing / "export.xlsx").write_bytes(
        _workbook({"Dec": [II, ["536365", "85123A", "HEART", 6, dt(2010, 12, 1, 8, 26), 2.55, 17850, "EIRE"]]})
    )
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    house = run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse
    silver = house.read("silver/transactions").filter(pl.col("_source_file") == "export.xlsx")
    assert silver.select("_source_sheet", "_source_row", "country_iso2", "line_total_gbp").rows() == [
        ("Dec", 1, "IE", pytest.approx(15.3))
    ]
    assert house.read("silver/transactions").filter(pl.col("_source_sheet").is_null()).height == 3


def test_todays_code_evolves_a_lakehouse_written_by_an_older_schema(resources, landing):
    from deltalake import write_deltalake

    house = resources["lakehouse"]
    run = lambda: run_pipeline(str(landing), house.root, dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)  # noqa: E731
    run()
    # Rewrite bronze and silver as a release before _field_count, _raw_record and _source_sheet wrote them,
    # with no recorded schema version.
    for table, dropped in (
        ("bronze/transactions", ["_field_count", "_raw_record", "_source_sheet"]),
        ("silver/transactions", ["_source_sheet"]),
    ):
        old = pl.read_delta(house.uri(table)).drop(dropped)
        write_deltalake(house.uri(table), old.to_arrow(), mode="overwrite", schema_mode="overwrite", partition_by=["_month"])
    assert "_source_sheet" not in house.read("silver/transactions").columns

    run()
    silver = house.read("silver/transactions")
    assert "_source_sheet" in silver.columns and silver.height == 7
    assert house.schema_version("silver/transactions") == house.schema_version("bronze/transactions") == SCHEMA_VERSION


def test_a_range_run_puts_each_days_figures_on_its_own_event_and_the_preview_on_one(resources):
    """Dagster copies output metadata onto every partition of a range: each day's event must carry that day's
    figures, and the preview and schema only the range's last day (not once per day)."""
    defs = build_definitions(resources=resources)
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize(list(defs.assets), selection=REFERENCE, resources=resources, instance=instance)
    tags = {RANGE_START_TAG: "2010-12-01", RANGE_END_TAG: "2010-12-04"}
    assert dg.materialize(list(defs.assets), selection=DAILY, resources=resources, instance=instance, tags=tags).success
    house = resources["lakehouse"]
    days = ["2010-12-01", "2010-12-02", "2010-12-03", "2010-12-04"]  # the 4th has no file: zero rows
    for table in (table for table in tables.DAILY_TABLES if table.is_asset):
        records = instance.fetch_materializations(dg.AssetKey(list(table.key)), limit=100).records
        events = {r.event_log_entry.dagster_event.partition: r.asset_materialization.metadata for r in records}
        assert sorted(events) == days, table.path
        counts = dict(house.read(table.path).group_by(pl.col(table.date_column).cast(pl.String)).len().iter_rows())
        for day in days:
            assert events[day]["dagster/row_count"].value == counts.get(day, 0), (table.path, day)
        assert [day for day in days if "preview" in events[day]] == ["2010-12-04"], table.path
        assert [day for day in days if "dagster/column_schema" in events[day]] == ["2010-12-04"], table.path
        assert events["2010-12-04"]["rows_written"].value == sum(counts.values())
    silver = {
        r.event_log_entry.dagster_event.partition: r.asset_materialization.metadata
        for r in instance.fetch_materializations(dg.AssetKey(["silver", "transactions"]), limit=10).records
    }
    stats = house.read("silver/partition_stats").select(pl.col("business_date").cast(pl.String), "quarantined_rows", "duplicates_dropped")
    for day, quarantined, duplicates in stats.iter_rows():
        assert silver[day]["quarantined_rows"].value == quarantined and silver[day]["duplicates_dropped"].value == duplicates
    assert silver["2010-12-01"]["duplicates_dropped"].value == 1 and silver["2010-12-02"]["quarantined_rows"].value == 1
    quarantine = {
        r.event_log_entry.dagster_event.partition: r.asset_materialization.metadata
        for r in instance.fetch_materializations(dg.AssetKey(["silver", "quarantine"]), limit=10).records
    }
    assert quarantine["2010-12-01"]["reason_unparseable_date"].value == 1
    assert "reason_unparseable_date" not in quarantine["2010-12-03"]


def test_bronze_reads_the_records_the_landing_staged_and_the_same_rows_without_them(resources, landing, monkeypatch):
    """A file is parsed once, by the landing: bronze reads its staged records (only its dates' row groups),
    and reads the file itself, to the same rows, when they are not there (a cache, e.g. after an erasure)."""
    from retail_pipeline.adapters.landing_zone import LandingZone
    from retail_pipeline.adapters.staging import StagedRecords

    house = resources["lakehouse"]
    run = lambda **kw: run_pipeline(str(landing), house.root, dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False, **kw)  # noqa: E731
    opened: list[str] = []
    original = LandingZone.open
    monkeypatch.setattr(LandingZone, "open", lambda self, path: opened.append(path) or original(self, path))
    run()
    assert sorted(opened) == sorted(f"online_retail_{day}.csv" for day in DAYS)  # once each, by the landing
    staged = StagedRecords(house.root)
    shas = read_manifest_shas(house)
    assert all(staged.has(sha) for sha in shas) and len(list(staged.root.iterdir())) == len(shas)
    with_staging = snapshot(house, marts=False)

    opened.clear()
    staged.clear()
    run(full=True)
    assert sorted(opened) == sorted(f"online_retail_{day}.csv" for day in DAYS)  # by bronze, nothing staged
    assert_same_tables(with_staging, snapshot(house, marts=False))

    # A changed file: its new version is staged and the old one pruned.
    path = landing / "online_retail_2010-12-03.csv"
    path.write_bytes(path.read_bytes().replace(b"RECIPE BOX", b"RECIPE TIN"))
    opened.clear()
    run()
    assert opened == ["online_retail_2010-12-03.csv"]
    shas_now = read_manifest_shas(house)
    assert sorted(p.name for p in staged.root.iterdir()) == sorted(s for s in shas_now if staged.has(s))
    assert len(shas_now & shas) == 2 and staged.has((shas_now - shas).pop())
    assert "RECIPE TIN" in house.read("bronze/transactions")["description"].to_list()


def read_manifest_shas(house: Lakehouse) -> set[str]:
    from retail_pipeline.adapters.lakehouse_state import read_manifest

    return set(read_manifest(house).filter(pl.col("status") == "active")["sha256"])

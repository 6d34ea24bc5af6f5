"""The right to erasure: `forget-customer` removes a customer from every table, the warehouse and storage, and
no later landing brings them back. Real Delta tables, real Dagster runs, the command line as a user runs it."""

import re
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from retail_pipeline.adapters.erasure_register import find_customer, register
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import bronze_files, current_plan
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.app.cli import main
from retail_pipeline.app.erasure import forget_customer
from retail_pipeline.app.runner import describe, run_pipeline, summary
from retail_pipeline.core import tables
from retail_pipeline.core.erasure import customer_key, drop_erased, normalise_id
from retail_pipeline.core.landing_files import place_rows
from retail_pipeline.core.planning import stale_dates
from retail_pipeline.core.tables import SQL_TABLES
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline_tests.app.test_cli import cli
from retail_pipeline_tests.conftest import write_csv

REGISTER = tables.ERASED_CUSTOMERS.path
ERASED_ROWS_TABLE = tables.ERASED_ROWS.path

X = "17850"
HEADER_II = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
# Several customers over four business days; X writes as 17850.0 and 17850, in both header variants, has
# a quarantined line and a malformed record, and is the only customer of 2010-12-02.
FILES = {
    "d1.csv": (None, [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
        "536366,22633,HAND WARMER,6,12/1/2010 8:28,1.85,13047,United Kingdom",
        "536366,22633,HAND WARMER,6,12/1/2010 8:28,1.85,13047,United Kingdom",
        "536367,21777,RECIPE BOX,4,12/1/2010 9:02,7.95,12583,France",
        "536368,22139,bad qty,x,12/1/2010 9:41,1.0,17850,United Kingdom",
    ]),
    "d2.csv": (None, [
        "536370,22728,ALARM CLOCK,24,12/2/2010 8:45,3.75,17850,United Kingdom",
        "C536371,22728,ALARM CLOCK,-2,12/2/2010 9:45,3.75,17850.0,United Kingdom",
    ]),
    "d3.csv": (HEADER_II, [
        "536380,21754,HOME BUILDING BLOCK,3,2010-12-03 10:00,5.95,17850,United Kingdom",
        "536381,21755,LOVE BUILDING BLOCK,3,2010-12-03 10:05,5.95,14688,United Kingdom",
        "536382,22139,too,many,fields,12/3/2010 10:10,1.0,17850.0,United Kingdom",
        "536383,POST,POSTAGE,1,2010-12-03 10:15,18,12583,France",
    ]),
    "d6.csv": (None, [
        "536390,21777,RECIPE BOX,2,12/6/2010 10:00,7.95,13047,United Kingdom",
        "536391,84406B,CREAM CUPID HEARTS,8,12/6/2010 10:30,2.75,14688,United Kingdom",
        "536392,22139,short,1,12/6/2010 10:40,14688",
        "536393,21777,damaged,-3,12/6/2010 11:00,0,,United Kingdom",
    ]),
}
# Columns that differ between two runs over different landing bytes without being the customer's data.
# Where a row sits in its file (record and line numbers shift when the customer's lines are removed), and when.
LINEAGE = {"_ingested_at", "_run_id", "_source_row", "_first_line", "_last_line", "_file_sha256", "_fetched_at"}
# Reference and bookkeeping tables: not the customers' data (the manifest records file sizes and hashes).
NOT_COMPARED = {"bronze/landed_files", "bronze/fx_rates", "bronze/countries", ERASED_ROWS_TABLE, REGISTER}


def holds_x(line: str) -> bool:
    return bool(re.search(r"(^|,)17850(\.0)?(,|$)", line))


def write_landing(root: Path, without_x: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, (header, lines) in FILES.items():
        kept = [line for line in lines if not (without_x and holds_x(line))]
        write_csv(root / name, kept, **({"header": header} if header else {}))
    return root


def quiet(_: str) -> None:
    pass


def comparable(house: Lakehouse) -> dict[str, pl.DataFrame]:
    tables = {}
    for table in sorted(set(SQL_TABLES.values()) - NOT_COMPARED):
        frame = house.read(table)
        frame = frame.drop([c for c in frame.columns if c in LINEAGE])
        tables[table] = frame.sort(frame.columns, nulls_last=True)
    return tables


def stored_files_holding(root: Path, customer: str) -> list[str]:
    """Every file in storage (data files and Delta logs; the register aside) whose content names the customer
    or their surrogate key: Parquet read with polars (nested checkpoint columns included), the rest as text."""
    # The id as a text value or a field of a raw record ("17850", ,17850.0,), or the key as a number: a file
    # size or a timestamp that happens to hold the digits does not count.
    pattern = re.compile(rf'(?<=[",]){customer}(\.0+)?(?=[",])|(?<![0-9]){customer_key(customer)}(?![0-9])')
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if Path(REGISTER) in [Path(*path.relative_to(root).parts[:2])]:
            continue
        text = pl.read_parquet(path).write_ndjson() if path.suffix == ".parquet" else path.read_bytes().decode("utf-8", "replace")
        if pattern.search(text):
            found.append(str(path.relative_to(root)))
    return found


def check_evaluations(instance: dg.DagsterInstance, run_ids: list[str]) -> list[dg.AssetCheckEvaluation]:
    evaluations = []
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluations.append(entry.dagster_event.event_specific_data)
    return evaluations


def assert_accounted(landing: Path, house: Lakehouse) -> None:
    """Invariant: for every active file and date, its records = bronze rows + records left out for erasure; and
    no run is due."""
    zone = LandingZone(root=str(landing))
    start, end = partition_bounds()
    manifest = house.read("bronze/landed_files").filter(pl.col("status") == "active")
    landed = pl.concat(
        place_rows(zone.read(path).records.lazy(), start, end)
        .group_by("_partition_date")
        .agg(pl.len().cast(pl.Int64).alias("records"))
        .with_columns(pl.lit(path).alias("_source_file"))
        .collect()
        for path in manifest["path"]
    )
    bronze = house.read("bronze/transactions").group_by("_source_file", "_partition_date").agg(pl.len().cast(pl.Int64).alias("bronze"))
    erased = house.read(ERASED_ROWS_TABLE).group_by("_source_file", "_partition_date").agg(pl.col("rows_erased").sum())
    joined = (
        landed.join(bronze, on=["_source_file", "_partition_date"], how="full", coalesce=True)
        .join(erased, on=["_source_file", "_partition_date"], how="full", coalesce=True)
        .fill_null(0)
    )
    assert joined.filter(pl.col("records") != pl.col("bronze") + pl.col("rows_erased")).is_empty(), joined
    files = bronze_files(house)
    assert stale_dates(house.read("bronze/landed_files"), files, start, end) == []
    assert current_plan(house, start, end).up_to_date, describe(current_plan(house, start, end))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A landing zone with the customer and the lakehouse and warehouse a run made of it, built once: each
    test works on a copy (Delta tables are directories of relative paths)."""
    root = tmp_path_factory.mktemp("built")
    run_pipeline(str(write_landing(root / "landing")), str(root / "lake"), dg.DagsterInstance.ephemeral(), say=quiet)
    return root


@pytest.fixture
def copy(built, tmp_path) -> Path:
    for name in ("landing", "lake"):
        shutil.copytree(built / name, tmp_path / name)
    shutil.copy(built / "lake.duckdb", tmp_path / "lake.duckdb")
    return tmp_path


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Lakehouse:
    """The same landing data without the customer's lines, run from scratch."""
    root = tmp_path_factory.mktemp("clean")
    landing = write_landing(root / "landing", without_x=True)
    return run_pipeline(str(landing), str(root / "lake"), dg.DagsterInstance.ephemeral(), say=quiet).lakehouse


# --- pure functions, without Dagster ---------------------------------------------------------------------


def test_an_id_is_normalised_as_silver_does_and_an_empty_one_is_refused():
    assert normalise_id(" 17850.0 ") == normalise_id("17850") == "17850"
    for bad in ("", "   ", None, "178 50", "17850,1"):
        with pytest.raises(ValueError):
            normalise_id(bad)


def test_drop_erased_leaves_out_the_registered_customers_records_and_counts_them():
    d1, d2 = date(2010, 12, 1), date(2010, 12, 2)
    sha = "a" * 64
    rows = pl.LazyFrame(
        {
            "customer_id": ["17850.0", "17850", " 17850 ", "13047", None, None, "178500"],
            "_raw_record": [None, None, None, None, "1,x,y,17850.0,z", "1,x,y,13047", None],
            "_partition_date": [d1, d1, d2, d1, d2, d2, d2],
            "_source_file": ["a.csv"] * 7,
            "_file_sha256": [sha] * 7,
            "_first_line": [2, 3, 5, 6, 7, 8, 9],
            "_last_line": [2, 4, 5, 6, 7, 8, 9],  # the second record holds a quoted line break
        }
    )
    kept, erased = drop_erased(rows, pl.Series(["17850"]), "run")
    assert kept.collect()["customer_id"].to_list() == ["13047", None, "178500"]
    assert erased.collect().select("_partition_date", "rows_erased", "lines_erased").rows() == [(d1, 2, 3), (d2, 2, 2)]
    nobody, none = drop_erased(rows, pl.Series([], dtype=pl.String), "run")
    assert nobody.collect().height == 7 and none.collect().is_empty()


def test_a_date_whose_records_were_all_erased_is_not_stale():
    d1 = date(2010, 12, 2)
    manifest = pl.DataFrame(
        {"path": ["a.csv"], "sha256": ["s"], "status": ["active"], "business_dates": [[d1]]},
    )
    held = pl.DataFrame(
        {"_source_file": ["a.csv"], "_file_sha256": ["s"], "_partition_date": [d1], "rows": [0], "erased_customer_rows": [0]}
    )
    assert stale_dates(manifest, held.clear(), date(2010, 12, 1), date(2011, 1, 1)) == [d1]
    assert stale_dates(manifest, held, date(2010, 12, 1), date(2011, 1, 1)) == []
    still_there = held.with_columns(rows=pl.lit(3), erased_customer_rows=pl.lit(1))
    assert stale_dates(manifest, still_there, date(2010, 12, 1), date(2011, 1, 1)) == [d1]


# --- through Dagster ----------------------------------------------------------------------------------------


def test_forget_customer_erases_them_everywhere_and_leaves_the_others_as_a_run_without_them(copy, clean):
    landing, lake = copy / "landing", copy / "lake"
    house = Lakehouse(root=str(lake))
    instance = dg.DagsterInstance.ephemeral()
    before = find_customer(house, X, copy / "lake.duckdb")
    assert before.rows["bronze/transactions"] == 7 and before.rows["silver/quarantine"] == 2
    assert before.rows["gold/dim_customer"] == 1 and before.warehouse["dim_customer"] == 1
    assert stored_files_holding(lake, X)

    said: list[str] = []
    report = forget_customer(str(landing), str(lake), "17850.0", instance, say=said.append)

    assert report.newly_registered and report.after.total == 0
    after = find_customer(house, X, copy / "lake.duckdb")
    assert after.total == 0 and {"bronze/transactions", "silver/transactions", "gold/fact_sales",
                                 "gold/customer_rfm"} <= set(after.rows)
    with duckdb.connect(str(copy / "lake.duckdb"), read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM dim_customer WHERE customer_id = '17850'").fetchall() == [(0,)]
        assert conn.sql("SELECT count(*) FROM dim_customer").fetchall()[0][0] == 3
    assert stored_files_holding(lake, X) == []
    assert house.read(REGISTER)["customer_id"].to_list() == [X]
    assert house.read(ERASED_ROWS_TABLE)["rows_erased"].sum() == 7

    a, b = comparable(house), comparable(clean)
    for table in a:
        assert a[table].equals(b[table]), f"{table} differs from a run without the customer:\n{a[table]}\n{b[table]}"
    evaluations = check_evaluations(instance, [run.run_id for run in report.pipeline.runs])
    assert evaluations and all(e.passed for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR)
    assert_accounted(landing, house)
    assert any("erasure register" in line for line in said)
    # The next run finds nothing to do: the purged logs still say which release wrote each table.
    assert run_pipeline(str(landing), str(lake), instance, say=quiet).partitions is None


def test_a_full_run_or_a_changed_file_does_not_bring_an_erased_customer_back(copy):
    landing, lake = copy / "landing", copy / "lake"
    instance = dg.DagsterInstance.ephemeral()
    house = Lakehouse(root=str(lake))
    # Registered but not rebuilt yet (a forget-customer that died after registering), and the shop resends
    # a day with one more line of the customer: a full run lands the new file without them.
    register(house, X, datetime.now(timezone.utc))
    assert stale_dates(house.read("bronze/landed_files"), bronze_files(house), *partition_bounds()) == [
        date(2010, 12, 1), date(2010, 12, 2), date(2010, 12, 3)
    ]
    write_csv(landing / "d1.csv", FILES["d1.csv"][1] + ["536399,22633,HAND WARMER,1,12/1/2010 12:00,1.85,17850,United Kingdom"])
    full = run_pipeline(str(landing), str(lake), instance, say=quiet, full=True)
    assert full.partitions == (date(2010, 12, 1), date(2010, 12, 6))
    found = find_customer(house, X, copy / "lake.duckdb")
    assert found.total == 0, found.holding()
    assert house.read(ERASED_ROWS_TABLE)["rows_erased"].sum() == 8
    assert "and 8 landed records not in bronze: their customers are in the erasure register" in summary(full)
    evaluations = check_evaluations(instance, [run.run_id for run in full.runs])
    assert evaluations and all(e.passed for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR)
    assert_accounted(landing, house)
    # Nothing is due: 2010-12-02, whose records were all erased, is not rebuilt again and again.
    assert run_pipeline(str(landing), str(lake), instance, say=quiet).partitions is None


def test_the_command_erases_says_what_it_did_and_refuses_bad_ids(copy, capsys):
    lake = copy / "lake"
    house = Lakehouse(root=str(lake))
    versions = {t: house.version(t) for t in SQL_TABLES.values() if house.exists(t)}
    options = ["--landing", str(copy / "landing"), "--lakehouse", str(lake)]

    assert main(["forget-customer", "99999", *options]) == 0
    assert "customer 99999: no row in any table" in capsys.readouterr().out
    assert {t: house.version(t) for t in SQL_TABLES.values() if house.exists(t)} == versions
    assert not house.exists(REGISTER)
    assert main(["forget-customer", " ", *options]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: give a customer id") and error.count("\n") == 1

    home = copy / "dagster_home"
    home.mkdir()
    done = cli("forget-customer", X, "--landing", "landing", "--lakehouse", "lake", home=home, cwd=copy)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Rows removed: bronze 7, silver 6, gold 6, warehouse 6" in out and "Tables rewritten: " in out
    assert re.search(r"Files vacuumed: \d+ old data files deleted", out)
    assert f"Verified: 0 rows of customer {X} remain" in out
    assert "landing files" in out and "event log" in out
    assert "Traceback" not in out + done.stderr
    assert find_customer(house, X, copy / "lake.duckdb").total == 0
    assert stored_files_holding(lake, X) == []

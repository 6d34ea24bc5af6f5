"""The warehouse file, the KPI report and the star's keys, through real pipeline runs on a temporary
lakehouse."""

import base64
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.warehouse import rebuild_warehouse
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core.dates import Window
from retail_pipeline.core.erasure import customer_key
from retail_pipeline.core.preview import HIDDEN, hide_personal, markdown_preview
from retail_pipeline_tests.app.test_pipeline import DAYS, write_days
from retail_pipeline_tests.conftest import write_csv


def _run(landing: Path, lakehouse: Path, instance: dg.DagsterInstance | None = None):
    return run_pipeline(str(landing), str(lakehouse), instance or dg.DagsterInstance.ephemeral(), say=lambda _: None)


@pytest.fixture(scope="module")
def days_run(tmp_path_factory):
    """One run over ``DAYS`` into a directory of its own (lakehouse, warehouse, reports), read by the tests:
    the directory, the run's report and its Dagster instance."""
    root = tmp_path_factory.mktemp("days")
    write_days(root / "landing")
    instance = dg.DagsterInstance.ephemeral()
    return root, _run(root / "landing", root / "lakehouse", instance), instance


def test_a_run_builds_the_star_the_marts_the_warehouse_and_the_report(days_run):
    tmp_path, report, _ = days_run
    house = report.lakehouse
    for table in ("fact_sales", "dim_date", "dim_product", "dim_customer", "dim_country", "product_performance",
                  "product_features", "customer_rfm", "country_sales"):
        assert house.exists(f"gold/{table}"), table
    fact, silver = house.read("gold/fact_sales"), house.read("silver/transactions")
    assert fact.height == silver.height and fact["line_total_gbp"].sum() == pytest.approx(silver["line_total_gbp"].sum())
    for dim, key in (("dim_product", "product_key"), ("dim_date", "date_key"), ("dim_country", "country_key")):
        keys = house.read(f"gold/{dim}")[key]
        assert fact[key].drop_nulls().is_in(keys.implode()).all(), dim  # every fact row finds its dimension rows

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        tables = {row[0] for row in conn.sql("SHOW TABLES").fetchall()}
        monthly = conn.sql("SELECT * FROM monthly_kpis ORDER BY month").pl()
    assert {"fact_sales", "dim_customer", "monthly_kpis", "customer_rfm"} <= tables
    assert monthly.equals(house.read("gold/monthly_kpis").sort("month"))

    page = (tmp_path / "reports" / "kpi_report.html").read_text()
    assert page.count("<svg") == 5 and "Gross revenue per month" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page  # self-contained
    history = next(r for r in report.runs if r.job == "history_job")
    markdown = history.metadata["gold/kpi_report"]["dashboard"]
    svg = base64.b64decode(markdown.removeprefix("![KPI dashboard](data:image/svg+xml;base64,").removesuffix(")"))
    assert svg.startswith(b"<svg") and (tmp_path / "reports" / "kpi_report.svg").read_bytes() == svg
    assert svg.count(b"<svg") == 6 and b"Gross revenue per month" in svg  # the five charts in one image


def test_metadata_in_the_event_log_shows_no_customer_id_or_key(days_run):
    """The event log outlives an erasure (forget-customer cannot rewrite it): previews and check samples
    there hide the columns that identify a customer."""
    instance = days_run[2]
    secrets = {"17850", str(customer_key("17850")), str(customer_key("12583"))}
    texts = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.is_step_materialization:
                texts += [str(v.value) for v in event.step_materialization_data.materialization.metadata.values()]
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                texts += [str(v.value) for v in event.event_specific_data.metadata.values()]
    previews = [t for t in texts if t.startswith("|")]
    assert any("customer_id" in t for t in previews) and any("customer_key" in t for t in previews)
    assert any(HIDDEN in t for t in previews)
    assert not [t for t in texts if any(secret in t for secret in secrets)]


def test_a_preview_hides_personal_columns_and_keeps_the_rest():
    frame = pl.DataFrame(
        {"customer_id": ["17850", None], "customer_key": [8431972018, None], "_raw_record": [None, "1,x,17850"],
         "country": ["EIRE", "France"]}
    )
    preview = markdown_preview(frame)
    assert "17850" not in preview and "8431972018" not in preview
    # The second row was landed with its raw text (a wrong field count): its country field is hidden too.
    assert preview.count(HIDDEN) == 4 and "EIRE" in preview and "France" not in preview
    assert hide_personal(frame)["customer_id"].to_list() == [HIDDEN, None]


def test_a_record_with_shifted_fields_is_hidden_whole():
    """A record with one field too many puts the customer id in ``country``; one too short, in
    ``unit_price``: for a record landed with its raw text, every field is hidden."""
    frame = pl.DataFrame(
        {"invoice_no": ["536365", "536366"], "unit_price": ["2.55", "84620195"], "customer_id": ["17850", None],
         "country": ["EIRE", "73519026"], "_raw_record": [None, "536366,x,y,1,12/1/2010 8:26,84620195"]}
    )
    preview = markdown_preview(frame)
    assert "84620195" not in preview and "73519026" not in preview and "17850" not in preview
    assert "EIRE" in preview and "536365" in preview


def test_an_unknown_header_is_named_without_its_values():
    """A file without a header reads its first record as one: the reason names the missing columns, not
    the values found (a customer id among them would reach the manifest and the event log)."""
    from retail_pipeline.core.landing_files import LandingError, parse_csv

    with pytest.raises(LandingError) as caught:
        parse_csv("headerless.csv", b"536370,22728,ALARM CLOCK,24,12/1/2010 8:45,3.75,73519026,France\n")
    assert "73519026" not in str(caught.value) and "InvoiceNo" in str(caught.value)


def test_surrogate_keys_do_not_depend_on_the_order_data_arrives_in(tmp_path, days_run):
    days = sorted(DAYS)
    at_once, in_two = days_run[0], tmp_path / "b"  # all days in one run, or ...
    write_days(in_two / "landing", {day: DAYS[day] for day in days[-1:]})  # the last day first, then the rest
    _run(in_two / "landing", in_two / "lakehouse")
    write_days(in_two / "landing")
    _run(in_two / "landing", in_two / "lakehouse")

    def keys(root: Path, table: str, columns: list[str]) -> pl.DataFrame:
        return Lakehouse(root=str(root / "lakehouse")).read(f"gold/{table}").select(columns).sort(columns)

    for table, columns in (
        ("dim_product", ["stock_code", "product_key"]),
        ("dim_customer", ["customer_id", "customer_key"]),
        ("dim_country", ["country_lookup", "country_key"]),
        ("fact_sales", ["_source_file", "_source_row", "date_key", "product_key", "customer_key", "country_key"]),
    ):
        assert keys(at_once, table, columns).equals(keys(in_two, table, columns)), table


def test_the_warehouse_is_replaced_whole_while_a_reader_holds_the_old_one(tmp_path):
    house = Lakehouse(root=str(tmp_path / "lakehouse"))
    house.write("gold/monthly_kpis", pl.DataFrame({"month": [date(2011, 1, 1), date(2011, 2, 1)], "orders": [3, 4]}))
    path = tmp_path / "warehouse.duckdb"

    def connect(p: Path):
        return DuckDBResource(database=str(p)).get_connection()

    rebuild_warehouse(house, path, connect)
    reader = duckdb.connect(str(path), read_only=True)
    assert reader.execute("SELECT sum(orders) FROM monthly_kpis").fetchone() == (7,)

    house.write("gold/monthly_kpis", pl.DataFrame({"month": [date(2011, 3, 1)], "orders": [10]}))
    built = rebuild_warehouse(house, path, connect)
    assert built.rows == {"monthly_kpis": 1}
    # The open reader still reads the whole old file; a new reader (another process) the whole new one.
    assert reader.execute("SELECT sum(orders), count(*) FROM monthly_kpis").fetchone() == (7, 2)
    fresh = subprocess.run(
        [sys.executable, "-c", f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True)"
         ".execute('SELECT sum(orders), count(*) FROM monthly_kpis').fetchone())"],
        capture_output=True, text=True, check=True,
    )
    assert fresh.stdout.strip() == "(10, 1)"
    reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lakehouse", "warehouse.duckdb"]  # no staging file left


def test_a_failed_rebuild_leaves_the_old_warehouse(tmp_path):
    house = Lakehouse(root=str(tmp_path / "lakehouse"))
    house.write("gold/monthly_kpis", pl.DataFrame({"month": [date(2011, 1, 1)], "orders": [3]}))
    path = tmp_path / "warehouse.duckdb"

    def connect(p: Path):
        return DuckDBResource(database=str(p)).get_connection()

    rebuild_warehouse(house, path, connect)
    write_csv(tmp_path / "lakehouse" / "gold" / "daily_sales" / "_delta_log" / "00000000000000000000.json", ["not a log"])
    try:
        rebuild_warehouse(house, path, connect)
    except Exception:
        pass
    else:
        raise AssertionError("a broken table should fail the rebuild")
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.sql("SELECT orders FROM monthly_kpis").fetchall() == [(3,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lakehouse", "warehouse.duckdb"]


def test_a_refreshed_warehouse_loads_only_the_changed_months_and_equals_a_full_rebuild(tmp_path):
    """A new day costs its month, not the history: the refresh copies the file and reloads only the months
    whose files changed, and the result equals a warehouse written from nothing."""
    from contextlib import contextmanager

    house = Lakehouse(root=str(tmp_path / "lakehouse"))
    days = pl.date_range(date(2011, 1, 1), date(2011, 3, 31), "1d", eager=True)
    daily = pl.DataFrame({"invoice_date": days, "country": "France", "gross_revenue_gbp": pl.int_range(0, days.len(), eager=True).cast(pl.Float64)})
    house.write("gold/daily_sales", daily, date_column="invoice_date")
    house.write("gold/monthly_kpis", pl.DataFrame({"month": [date(2011, 1, 1)], "orders": [3]}))
    path, fresh = tmp_path / "warehouse.duckdb", tmp_path / "fresh.duckdb"
    registered: list[int] = []

    class Counting:
        """The connection, counting the rows handed to DuckDB to load."""

        def __init__(self, conn):
            self._conn = conn

        def __getattr__(self, name):
            return getattr(self._conn, name)

        def register(self, name, data):
            if name == "__source":
                registered.append(data.num_rows)
            return self._conn.register(name, data)

    @contextmanager
    def connect(p: Path):
        with DuckDBResource(database=str(p)).get_connection() as conn:
            yield Counting(conn)

    rebuild_warehouse(house, path, connect)
    assert sum(registered) == days.len() + 1

    # One day of February changes, and a day of April arrives; the whole table is untouched.
    registered.clear()
    feb = daily.filter(pl.col("invoice_date") == date(2011, 2, 10)).with_columns(pl.lit(999.0).alias("gross_revenue_gbp"))
    house.write("gold/daily_sales", feb, date_column="invoice_date", window=Window(date(2011, 2, 10), date(2011, 2, 11)))
    april = pl.DataFrame({"invoice_date": [date(2011, 4, 1)], "country": ["EIRE"], "gross_revenue_gbp": [5.0]})
    house.write("gold/daily_sales", april, date_column="invoice_date", window=Window(date(2011, 4, 1), date(2011, 4, 2)))
    built = rebuild_warehouse(house, path, connect)
    assert sum(registered) == 28 + 1  # February and April only
    assert built.rows == {"daily_sales": days.len() + 1, "monthly_kpis": 1}

    # A day deleted from January (its month rewritten without it), the whole table replaced.
    registered.clear()
    house.write("gold/daily_sales", daily.filter(pl.col("invoice_date") == date(2011, 1, 5)).clear(), date_column="invoice_date",
                window=Window(date(2011, 1, 5), date(2011, 1, 6)))
    house.write("gold/monthly_kpis", pl.DataFrame({"month": [date(2011, 1, 1), date(2011, 2, 1)], "orders": [3, 4]}))
    rebuild_warehouse(house, path, connect)
    assert sum(registered) == 30 + 2
    rebuild_warehouse(house, fresh, connect, full=True)
    with duckdb.connect(str(path), read_only=True) as a, duckdb.connect(str(fresh), read_only=True) as b:
        for table in ("daily_sales", "monthly_kpis"):
            query = f"SELECT * FROM {table} ORDER BY ALL"
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
        assert a.execute("SELECT gross_revenue_gbp FROM daily_sales WHERE invoice_date = '2011-02-10'").fetchall() == [(999.0,)]
        assert a.execute("SELECT count(*) FROM daily_sales WHERE invoice_date = '2011-01-05'").fetchone() == (0,)
    # Nothing changed: nothing loaded.
    registered.clear()
    rebuild_warehouse(house, path, connect)
    assert registered == []

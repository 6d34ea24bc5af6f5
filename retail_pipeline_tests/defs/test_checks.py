"""Asset checks: each passes on good data and fails on data broken on purpose; a failing blocking check
stops gold."""

from datetime import date

import dagster as dg
import polars as pl

from retail_pipeline.core.dates import Window
from retail_pipeline.core.invariants import (
    line_accounting,
    line_conservation_failures,
    revenue_mismatches,
    row_conservation_failures,
    total_mismatches,
)
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from retail_pipeline.defs.resources import build_resources
from retail_pipeline_tests.app.test_pipeline import REFERENCE, write_days

D1, D2 = date(2011, 1, 3), date(2011, 1, 4)


def test_row_conservation_counts_rows_in_the_tables():
    bronze = pl.LazyFrame({"_partition_date": [D1, D1, D1, D2]})
    silver = pl.LazyFrame({"invoice_date": [D1, D2]})
    quarantine = pl.LazyFrame({"_partition_date": [D1]}, schema={"_partition_date": pl.Date})
    stats = pl.LazyFrame({"business_date": [D1, D2], "duplicates_dropped": [1, 0]})
    assert row_conservation_failures(bronze, silver, quarantine, stats).height == 0
    lost = row_conservation_failures(bronze, silver.filter(pl.col("invoice_date") == D2), quarantine, stats)
    assert lost.select("business_date", "bronze", "silver").rows() == [(D1, 3, 0)]


def test_revenue_mismatch_names_the_date_and_the_measure():
    silver = pl.LazyFrame(
        {
            "invoice_date": [D1, D1, D2],
            "line_type": ["sale", "cancellation", "sale"],
            "quantity": [2, -1, 1],
            "unit_price": [5.0, 5.0, 3.0],
            "is_product": [True, True, True],
            **{f"line_total_{c}": [10.0, -5.0, 3.0] for c in ("gbp", "eur", "usd")},
        }
    )
    gold = pl.LazyFrame(
        {
            "invoice_date": [D1, D2],
            **{f"gross_revenue_{c}": [10.0, 3.0] for c in ("gbp", "eur", "usd")},
            **{f"cancelled_revenue_{c}": [5.0, 0.0] for c in ("gbp", "eur", "usd")},
        }
    )
    assert revenue_mismatches(silver, gold).height == 0
    wrong = gold.with_columns(pl.when(pl.col("invoice_date") == D2).then(3.5).otherwise(pl.col("gross_revenue_eur")).alias("gross_revenue_eur"))
    assert revenue_mismatches(silver, wrong)["invoice_date"].to_list() == [D2]
    # Monthly marts against the daily rows they must add up to: a month off by more than half a penny.
    month = pl.col("invoice_date").dt.truncate("1mo")
    monthly = gold.group_by(month).agg(pl.exclude("invoice_date").sum())
    assert total_mismatches(gold.with_columns(month), monthly).height == 0
    off = monthly.with_columns(pl.col("cancelled_revenue_usd") + 0.01)
    assert total_mismatches(gold.with_columns(month), off)["invoice_date"].to_list() == [date(2011, 1, 1)]
    assert total_mismatches(gold.with_columns(month), monthly.with_columns(pl.col("gross_revenue_gbp") + 0.004)).height == 0


def _files(**over):
    base = {"path": ["a.csv"], "sha256": ["a" * 64], "lines": [6], "lines_outside_records": [2],
            "partition_dates": [[D1, D2]]}
    return pl.LazyFrame({**base, **over}, schema_overrides={"partition_dates": pl.List(pl.Date)})


def _bronze(spans, dates=None):
    dates = dates or [D1] * len(spans)
    return pl.LazyFrame(
        {
            "_file_sha256": ["a" * 64] * len(spans),
            "_partition_date": dates,
            "_source_sheet": [None] * len(spans),
            "_first_line": [a for a, _ in spans],
            "_last_line": [b for _, b in spans],
        },
        schema_overrides={"_source_sheet": pl.String, "_first_line": pl.Int64, "_last_line": pl.Int64},
    )


NO_ERASED = pl.LazyFrame(schema={"_file_sha256": pl.String, "_partition_date": pl.Date, "lines_erased": pl.Int64})


def test_line_conservation_accounts_for_every_line_of_each_file():
    """6 lines: header, a blank, records on 2, 4-5 (a quoted line break) and 6; the last on 2011-01-04."""
    whole = _bronze([(2, 2), (4, 5), (6, 6)], [D1, D1, D2])
    assert line_conservation_failures(_files(), whole, NO_ERASED).height == 0
    # A record lost between the file and bronze.
    lost = line_conservation_failures(_files(), _bronze([(2, 2), (6, 6)], [D1, D2]), NO_ERASED)
    assert lost.select("path", "lines", "lines_in_bronze").rows() == [("a.csv", 6, 2)]
    # Erased records are accounted for by bronze/erased_rows.
    erased = pl.LazyFrame({"_file_sha256": ["a" * 64], "_partition_date": [D1], "lines_erased": [2]})
    assert line_conservation_failures(_files(), _bronze([(2, 2), (6, 6)], [D1, D2]), erased).height == 0
    # A line in two records is not made up for by a line in none.
    overlapping = line_conservation_failures(_files(), _bronze([(2, 4), (4, 4), (6, 6)], [D1, D1, D2]), NO_ERASED)
    assert overlapping.select("path", "overlapping_records").rows() == [("a.csv", 1)]


def test_line_conservation_waits_for_every_date_of_a_file():
    """A file whose dates are not all built from this version yet (a range split over runs) is not a failure."""
    first_run = _bronze([(2, 2), (4, 5)], [D1, D1])
    assert line_conservation_failures(_files(), first_run, NO_ERASED).height == 0
    accounting = line_accounting(_files(), first_run, NO_ERASED)
    assert accounting.select("path", "dates_not_built").rows() == [("a.csv", [D2])]


def test_line_accounting_of_files_batched_together_equals_one_file_at_a_time(monkeypatch):
    """Three versions with the same line numbers, sorted in one query: an overlap in one is not another's,
    a record of one does not fill another's gap."""
    import retail_pipeline.core.invariants as invariants

    a, b, c = "a" * 64, "b" * 64, "c" * 64
    files = pl.LazyFrame(
        {"path": ["a.csv", "b.csv", "c.csv"], "sha256": [a, b, c], "lines": [6, 6, 6], "lines_outside_records": [2, 2, 2],
         "partition_dates": [[D1], [D1], [D1]]},
        schema_overrides={"partition_dates": pl.List(pl.Date)},
    )
    spans = {a: [(2, 2), (4, 5), (6, 6)], b: [(2, 4), (4, 4), (6, 6)], c: [(4, 5), (6, 6)]}
    bronze = pl.LazyFrame(
        {
            "_file_sha256": [sha for sha, s in spans.items() for _ in s],
            "_partition_date": [D1] * 8,
            "_source_sheet": [None] * 8,
            "_first_line": [x for s in spans.values() for x, _ in s],
            "_last_line": [y for s in spans.values() for _, y in s],
        },
        schema_overrides={"_source_sheet": pl.String},
    )
    together = line_accounting(files, bronze, NO_ERASED)
    monkeypatch.setattr(invariants, "LINE_CHECK_LINES", 1)
    alone = line_accounting(files, bronze, NO_ERASED)
    assert together.equals(alone)
    assert together.select("path", "unaccounted", "overlapping_records").rows() == [
        ("a.csv", 0, 0), ("b.csv", -1, 1), ("c.csv", 1, 0)
    ]


def _run(resources: dict, selection: list[str], start: str, end: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(resources=resources)
    return dg.materialize(
        list(defs.assets),
        selection=selection,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        raise_on_error=False,
    )


def _checks_via_job(resources: dict, start: str, end: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(resources=resources)
    return defs.resolve_job_def("daily_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        raise_on_error=False,
    )


def test_checks_pass_on_a_clean_run(landing, lakehouse_root):
    write_days(landing)
    resources = build_resources(str(landing), str(lakehouse_root))
    assert _run(resources, REFERENCE, "2010-12-01", "2010-12-01").success
    result = _checks_via_job(resources, "2010-12-01", "2010-12-03")
    assert result.success
    all_evaluations = result.get_asset_check_evaluations()
    contracts_checked = {e.asset_key.to_user_string() for e in all_evaluations if e.check_name == "matches_contract"}
    assert contracts_checked == {
        "bronze/transactions",
        "silver/transactions",
        "silver/quarantine",
        "gold/daily_sales",
        "gold/monthly_kpis",
        "gold/dq_scorecard",
        "gold/fact_sales",
        "gold/dim_date",
        "gold/dim_product",
        "gold/dim_customer",
        "gold/dim_country",
        "gold/product_performance",
        "gold/product_features",
        "gold/customer_rfm",
        "gold/country_sales",
    }
    assert all(e.passed for e in all_evaluations if e.check_name == "matches_contract")
    evaluations = {e.check_name: e for e in all_evaluations if e.check_name != "matches_contract"}
    assert set(evaluations) == {
        "every_line_is_in_bronze",
        "row_conservation",
        "no_duplicate_lines",
        "every_line_has_an_fx_rate",
        "fx_rates_are_current",
        "revenue_reconciles_with_silver",
        "reconciles_with_silver",
        "monthly_revenue_reconciles_with_silver",
        "country_coverage",
        "latest_data_is_fresh",
    }
    assert [name for name, e in evaluations.items() if not e.passed] == ["latest_data_is_fresh"]  # 2010 data
    assert evaluations["latest_data_is_fresh"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["country_coverage"].metadata["share_without_iso_country"].value == 0.0


def test_a_failing_blocking_check_stops_gold(landing, lakehouse_root):
    write_days(landing)
    resources = build_resources(str(landing), str(lakehouse_root))
    assert _run(resources, REFERENCE, "2010-12-01", "2010-12-01").success
    # Break the reference data: the rates start after 2010-12-02 (a day after the first fixing but too far
    # from it would only be stale: its lines say why and pass, see test_stale_rates.py).
    house = resources["lakehouse"]
    house.write("silver/fx_daily", house.read("silver/fx_daily").filter(pl.col("fixing_date") > date(2010, 12, 2)))

    result = _checks_via_job(resources, "2010-12-01", "2010-12-03")
    assert not result.success
    failed = [
        e for e in result.get_asset_check_evaluations() if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert [e.check_name for e in failed] == ["every_line_has_an_fx_rate"]
    assert failed[0].metadata["failures"].value == 5  # the valid lines of 2010-12-01 (3) and 2010-12-02 (2)
    assert house.exists("silver/transactions")
    assert not house.exists("gold/daily_sales")


def test_country_coverage_warns_above_its_threshold(landing, lakehouse_root, monkeypatch):
    monkeypatch.setenv("RETAIL_MAX_UNKNOWN_COUNTRY_SHARE", "0.1")
    write_days(landing, {"2010-12-01": ["1,85123A,HEART,1,12/1/2010 8:00,1,,Unspecified", "2,85123A,HEART,1,12/1/2010 8:00,1,,EIRE"]})
    resources = build_resources(str(landing), str(lakehouse_root))
    assert _run(resources, REFERENCE, "2010-12-01", "2010-12-01").success
    result = _checks_via_job(resources, "2010-12-01", "2010-12-01")
    assert result.success  # a warning does not fail the run or stop gold
    coverage = next(e for e in result.get_asset_check_evaluations() if e.check_name == "country_coverage")
    assert not coverage.passed
    assert coverage.metadata["share_without_iso_country"].value == 0.5
    assert coverage.metadata["countries_without_iso"].value == "Unspecified (1)"


def test_schema_drift_names_the_file_and_its_extra_columns(landing, lakehouse_root):
    write_days(landing, {"2010-12-01": ["1,85123A,HEART,1,12/1/2010 8:00,1,,EIRE"]})
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,Channel,Till"
    (landing / "with_channel.csv").write_text(f"{header}\n2,85123A,HEART,1,12/1/2010 9:00,1,,EIRE,web,3\n")
    resources = build_resources(str(landing), str(lakehouse_root))
    result = build_definitions(resources=resources).resolve_job_def("landing_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    drift = next(e for e in result.get_asset_check_evaluations() if e.check_name == "no_schema_drift")
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.description == "with_channel.csv: extra columns Channel, Till"
    assert drift.metadata["files_with_extra_columns"].value == 1


def test_the_silver_contract_names_each_broken_rule():
    from datetime import datetime

    from retail_pipeline.core.contracts import SILVER_TRANSACTIONS, SilverTransactionsModel
    from retail_pipeline.core.invariants import contract_failures

    good = {
        "invoice_no": "536365", "stock_code": "85123A", "description": "HEART", "quantity": 2,
        "invoice_ts": datetime(2011, 1, 3, 8, 0), "invoice_date": D1, "unit_price": 2.5, "customer_id": "17850",
        "country": "EIRE", "country_iso2": "IE", "region": "Northern Europe", "line_type": "sale",
        "is_product": True, "gbp_eur": 1.2, "gbp_usd": 1.5, "line_total_gbp": 5.0, "line_total_eur": 6.0,
        "line_total_usd": 7.5, "_source_file": "f.csv", "_source_sheet": None, "_source_row": 1,
        "_file_sha256": "a" * 64, "_run_id": "r",
    }
    rows = [
        good,
        {**good, "_source_row": 2, "invoice_no": "C536366", "line_type": "cancellation"},  # positive quantity
        {**good, "_source_row": 3, "line_type": "gift"},
        {**good, "_source_row": 4, "line_total_eur": 6.5},
        {**good, "_source_row": 5, "country_iso2": "Ireland"},
    ]
    frame = pl.DataFrame(rows, schema=SILVER_TRANSACTIONS)
    assert contract_failures(SilverTransactionsModel, frame.head(1)).height == 0
    failures = contract_failures(SilverTransactionsModel, frame)
    checks = set(failures["check"])
    assert "a_cancellation_has_negative_quantity" in checks
    assert "line_totals_are_quantity_times_price_times_rate" in checks
    assert any(c.startswith("isin") for c in checks) and any(c.startswith("str_matches") for c in checks)
    assert contract_failures(SilverTransactionsModel, frame.drop("region")).height > 0  # a missing column


def test_the_manifest_and_reference_tables_match_their_contracts(landing, lakehouse_root):
    write_days(landing)
    (landing / "bad.csv").write_text("foo,bar\n1,2\n")  # a rejected file is a valid manifest row
    resources = build_resources(str(landing), str(lakehouse_root))
    result = build_definitions(resources=resources).resolve_job_def("landing_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    contracts_checked = {
        e.asset_key.to_user_string(): e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "matches_contract"
    }
    assert contracts_checked == {
        "bronze/landed_files": True,
        "bronze/fx_rates": True,
        "bronze/countries": True,
        "silver/fx_daily": True,
        "silver/dim_country": True,
    }


def _run_checks(resources: dict, *checks) -> dict[str, dg.AssetCheckEvaluation]:
    """Run only the given checks (on their own, so they look at every date), as a user can from the UI."""
    base = build_definitions(resources=resources)
    job = dg.define_asset_job("only_checks", selection=dg.AssetSelection.checks(*checks))
    defs = dg.Definitions(assets=base.assets, asset_checks=base.asset_checks, jobs=[job], resources=resources)
    result = defs.resolve_job_def("only_checks").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_surviving_duplicate_fails_and_fresh_data_passes_freshness(landing, lakehouse_root):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from retail_pipeline.app.runner import run_pipeline
    from retail_pipeline.defs.silver.transactions import latest_data_is_fresh, no_duplicate_lines

    today = datetime.now(ZoneInfo("Europe/London")) - timedelta(minutes=1)
    stamp = f"{today.month}/{today.day}/{today.year} {today.hour}:{today.minute:02d}"
    write_days(landing, {"today": [f"1,85123A,HEART,1,{stamp},1,,EIRE", f"2,85123A,HEART,1,{stamp},1,,EIRE"]})
    house = run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse
    resources = build_resources(str(landing), str(lakehouse_root))

    clean = _run_checks(resources, no_duplicate_lines, latest_data_is_fresh)
    assert clean["no_duplicate_lines"].passed and clean["latest_data_is_fresh"].passed

    silver = house.read("silver/transactions")
    house.write("silver/transactions", pl.concat([silver, silver.head(1)]), "invoice_date")  # a duplicate slips in
    broken = _run_checks(resources, no_duplicate_lines)
    assert not broken["no_duplicate_lines"].passed
    assert broken["no_duplicate_lines"].metadata["failures"].value == 1


def test_daily_checks_look_at_the_days_of_their_run(landing, lakehouse_root):
    """A run over some days checks those days (its cost follows the run, not the history); a check run on
    its own checks every day."""
    from retail_pipeline.defs.silver.transactions import no_duplicate_lines

    write_days(landing)
    resources = build_resources(str(landing), str(lakehouse_root))
    assert _run(resources, REFERENCE, "2010-12-01", "2010-12-01").success
    assert _checks_via_job(resources, "2010-12-01", "2010-12-03").success
    house = resources["lakehouse"]
    day3 = house.read("silver/transactions", "invoice_date", Window(date(2010, 12, 3), date(2010, 12, 4)))
    house.write("silver/transactions", pl.concat([day3, day3.head(1)]), "invoice_date", Window(date(2010, 12, 3), date(2010, 12, 4)))

    # A range run over 12-01 and a single-partition run of 12-02 (as the UI launches one) do not see 12-03.
    ranged = {e.check_name: e for e in _checks_via_job(resources, "2010-12-01", "2010-12-01").get_asset_check_evaluations()}
    assert ranged["no_duplicate_lines"].passed
    # The whole-history check does: December's marts, rebuilt from silver, hold the duplicate's revenue,
    # and gold/daily_sales of 12-03, not rebuilt, does not.
    assert not ranged["monthly_revenue_reconciles_with_silver"].passed
    single = build_definitions(resources=resources).resolve_job_def("daily_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key="2010-12-02", raise_on_error=False
    )
    duplicates = next(e for e in single.get_asset_check_evaluations() if e.check_name == "no_duplicate_lines")
    assert duplicates.passed
    alone = _run_checks(resources, no_duplicate_lines)["no_duplicate_lines"]
    assert not alone.passed and alone.metadata["failures"].value == 1


def test_a_line_lost_between_a_file_and_bronze_fails_and_names_the_file(landing, lakehouse_root):
    from retail_pipeline.app.runner import run_pipeline
    from retail_pipeline.defs.bronze.transactions import every_line_is_in_bronze

    write_days(landing)
    house = run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse
    resources = build_resources(str(landing), str(lakehouse_root))
    assert _run_checks(resources, every_line_is_in_bronze)["every_line_is_in_bronze"].passed

    bronze = house.read("bronze/transactions")
    victim = bronze.row(0, named=True)
    lost = bronze.filter((pl.col("_source_file") != victim["_source_file"]) | (pl.col("_first_line") != victim["_first_line"]))
    house.write("bronze/transactions", lost, "_partition_date")
    broken = _run_checks(resources, every_line_is_in_bronze)["every_line_is_in_bronze"]
    assert not broken.passed
    assert broken.metadata["failures"].value == 1
    assert victim["_source_file"] in broken.description


def test_failure_cases_keep_what_names_a_fault_and_hide_what_names_a_customer():
    from retail_pipeline.core.invariants import redact_failure_cases

    frame = pl.DataFrame({"invoice_no": ["536365", "536366"], "stock_code": ["85123A", "22633"], "customer_id": ["17850", "1 2"], "quantity": [1, -2]})
    failures = pl.DataFrame(
        {
            "column": ["customer_id", "quantity", "SilverTransactionsModel", "SilverTransactionsModel"],
            "check": ["str_matches", "greater_than(0)", "a_rule_on_the_row", "column_in_dataframe"],
            "failure_case": ["1 2", "-2", '{"customer_id": "17850", "quantity": 1}', "line_type"],
            "index": [1, 1, 0, None],
        },
        schema_overrides={"index": pl.Int32},
    )
    shown = redact_failure_cases(failures, frame)["failure_case"].to_list()
    assert shown == ["hidden", "-2", "invoice_no=536365 stock_code=85123A", "line_type"]


def test_failing_checks_put_no_customer_id_in_the_event_log(landing, lakehouse_root):
    """The event log outlives an erasure: a contract check that fails on rows of a customer (a column rule on
    the id itself, a frame-level rule whose pandera failure case is the whole row) names the rows by their
    identifying columns, never by the id, its surrogate key or the raw record. The whole event log of that run
    is read."""
    from retail_pipeline.app.runner import run_pipeline
    from retail_pipeline.core.erasure import customer_key
    from retail_pipeline.defs.silver.transactions import matches_contract

    ids = ["84620195", "73519026"]
    write_days(landing, {"2010-12-01": [
        f"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,{ids[0]},United Kingdom",
        f"536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,{ids[1]},United Kingdom",
        "536367,21777,RECIPE BOX,4,12/1/2010 9:02,7.95,,EIRE",
    ]})
    house = run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse
    silver = house.read("silver/transactions")
    broken = silver.with_columns(
        # A frame-level rule broken on the first customer's line, a column rule on the second's id.
        pl.when(pl.col("customer_id") == ids[0]).then(pl.col("line_total_gbp") + 1).otherwise(pl.col("line_total_gbp")).alias("line_total_gbp"),
        pl.when(pl.col("customer_id") == ids[1]).then(pl.lit("7351 9026")).otherwise(pl.col("customer_id")).alias("customer_id"),
    )
    house.write("silver/transactions", broken, "invoice_date")

    resources = build_resources(str(landing), str(lakehouse_root))
    base = build_definitions(resources=resources)
    job = dg.define_asset_job("only_checks", selection=dg.AssetSelection.checks(matches_contract))
    defs = dg.Definitions(assets=base.assets, asset_checks=base.asset_checks, jobs=[job], resources=resources)
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("only_checks").execute_in_process(instance=instance, raise_on_error=False)
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "matches_contract")
    assert not evaluation.passed
    assert "line_totals_are_quantity_times_price_times_rate" in evaluation.description
    assert evaluation.metadata["failures"].value >= 2 and "sample" in evaluation.metadata

    logged = [repr(entry) for entry in instance.all_logs(result.run_id)]
    assert len(logged) > 10
    forbidden = [*ids, "7351 9026", *(str(customer_key(i)) for i in ids)]
    leaks = [(word, line[:300]) for line in logged for word in forbidden if word in line]
    assert not leaks, leaks


def test_a_side_table_that_breaks_its_contract_is_not_written(tmp_path):
    """silver/partition_stats is written by silver's step, not by the IO manager: its contract is checked on
    the way, and a failure stops the step with the rule, before anything is written."""
    from retail_pipeline.adapters.io_manager import write_side_table
    from retail_pipeline.adapters.lakehouse import Lakehouse
    from retail_pipeline.core import tables

    house = Lakehouse(root=str(tmp_path / "lake"))
    stats = pl.DataFrame(
        {"business_date": [D1], "bronze_rows": [3], "silver_rows": [1], "quarantined_rows": [0], "duplicates_dropped": [-1],
         "quarantined_by_reason": [[]], "_run_id": ["r"]},
        schema_overrides={"quarantined_by_reason": pl.List(pl.Struct({"reason_code": pl.String, "rows": pl.Int64}))},
    ).cast(dict(tables.PARTITION_STATS.schema))
    try:
        write_side_table(None, house, tables.PARTITION_STATS, stats, Window(D1, D2))
    except dg.Failure as exc:
        assert "silver/partition_stats" in str(exc) and "duplicates_dropped" in str(exc)
    else:
        raise AssertionError("a partition_stats row with -1 duplicates was accepted")
    assert not house.exists(tables.PARTITION_STATS.path)


def test_side_tables_are_written_by_their_owners_and_are_not_assets(landing, lakehouse_root):
    from retail_pipeline.core import tables

    write_days(landing)
    resources = build_resources(str(landing), str(lakehouse_root))
    defs = build_definitions(resources=resources)
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert {"bronze/erased_rows", "silver/partition_stats"}.isdisjoint(keys)
    assert _run(resources, REFERENCE, "2010-12-01", "2010-12-01").success
    result = _run(resources, ["bronze/transactions", "silver/transactions", "silver/quarantine"], "2010-12-01", "2010-12-03")
    assert result.success
    house = resources["lakehouse"]
    stats = house.read(tables.PARTITION_STATS.path).sort("business_date")
    assert stats["business_date"].to_list() == [date(2010, 12, 1), date(2010, 12, 2), date(2010, 12, 3)]
    bronze = house.read(tables.BRONZE_TRANSACTIONS.path).group_by("_partition_date").len().sort("_partition_date")
    assert stats.sort("business_date")["bronze_rows"].to_list() == bronze["len"].to_list()
    assert house.exists(tables.ERASED_ROWS.path)
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised == {"bronze/transactions", "silver/transactions", "silver/quarantine"}

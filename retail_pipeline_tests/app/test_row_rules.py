"""Row rules quarantine, computed-column rules block (DESIGN.md): a contract rule that an input value alone
can break sends that row to the quarantine with its reason, and the rest of the range reaches gold in a run
that succeeds; valid oddities of the real exports stay valid; a rule on a column the pipeline computes
stays a blocking check whose message names the dates and the first offending rows."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.resources import build_resources
from retail_pipeline_tests.conftest import write_csv

GOOD = {
    "2010-12-01": [
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        "536366,21777,RECIPE BOX,4,12/1/2010 9:02,7.95,13047,EIRE",
    ],
    "2010-12-02": [
        "536380,22139,RETROSPOT TEA SET CERAMIC 11 PC,2,12/2/2010 9:41,4.95,14527,United Kingdom",
        "C536381,22139,RETROSPOT TEA SET CERAMIC 11 PC,-1,12/2/2010 10:12,4.95,14527,United Kingdom",
    ],
}

ROW_RULES = {
    # A cancellation (C invoice) whose quantity is positive, as some shops' refund exports write it.
    "cancellation_not_negative": "C536382,21777,RECIPE BOX,5,12/2/2010 10:30,7.95,14527,United Kingdom",
    "cancellation_not_negative (zero)": "C536383,21777,RECIPE BOX,0,12/2/2010 10:31,7.95,14527,United Kingdom",
    # A customer id with a space inside: no customer has it.
    "customer_id_has_whitespace": "536384,21777,RECIPE BOX,1,12/2/2010 10:40,7.95,145 27,United Kingdom",
}


def _landing(root, extra_lines: dict[str, list[str]]):
    for day, lines in GOOD.items():
        write_csv(root / f"online_retail_{day}.csv", lines + extra_lines.get(day, []))
    return root


def _run(landing, lake) -> Lakehouse:
    return run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse


@pytest.mark.parametrize("rule", sorted(ROW_RULES))
def test_one_row_breaking_a_row_rule_is_quarantined_and_the_range_reaches_gold(tmp_path, rule):
    landing = _landing(tmp_path / "landing", {"2010-12-02": [ROW_RULES[rule]]})
    house = _run(landing, tmp_path / "lake")  # raises RunFailed if a check stopped the run

    quarantine = house.read(tables.QUARANTINE.path)
    assert quarantine["reason_code"].to_list() == [rule.split(" ")[0]]
    assert quarantine["_source_file"].to_list() == ["online_retail_2010-12-02.csv"]
    assert quarantine["_source_row"].to_list() == [3]
    silver = house.read(tables.SILVER_TRANSACTIONS.path)
    assert silver.height == 4 and ROW_RULES[rule].split(",")[0] not in silver["invoice_no"].to_list()
    daily = house.read(tables.DAILY_SALES.path)
    assert sorted(daily["invoice_date"].unique().to_list()) == [date(2010, 12, 1), date(2010, 12, 2)]


def test_the_odd_lines_of_real_exports_stay_valid(tmp_path):
    odd = [
        "A563185,B,Adjust bad debt,1,12/2/2010 11:00,-11062.06,,United Kingdom",  # negative price
        "536390,M,Manual,1,12/2/2010 11:05,0,,United Kingdom",  # zero price
        "536391,22139,damaged,-3,12/2/2010 11:10,0,,United Kingdom",  # negative quantity, no cancellation
        "536392,21777,RECIPE BOX,2,12/2/2010 11:15,7.95,14911,Channel Islands",  # no ISO code
        "536393,21777,RECIPE BOX,2,12/2/2010 11:20,7.95,16320,Unspecified",
        "536394,21777,RECIPE BOX,2,12/2/2010 11:25,7.95,12429,European Community",
        "536395,23843,PAPER CRAFT LITTLE BIRDIE,80995,12/2/2010 11:30,2.08,16446,United Kingdom",
        "536396,23843,PAPER CRAFT LITTLE BIRDIE,-80995,12/2/2010 11:31,2.08,16446,United Kingdom",
    ]
    house = _run(_landing(tmp_path / "landing", {"2010-12-02": odd}), tmp_path / "lake")
    assert house.read(tables.QUARANTINE.path).is_empty()
    assert house.read(tables.SILVER_TRANSACTIONS.path).height == 4 + len(odd)


def test_a_computed_column_rule_blocks_and_names_its_dates_and_first_rows(tmp_path):
    landing = _landing(tmp_path / "landing", {})
    house = _run(landing, tmp_path / "lake")
    silver = house.read(tables.SILVER_TRANSACTIONS.path)
    # A pipeline bug, simulated: one line's GBP total is not quantity x price.
    broken = silver.with_columns(
        pl.when(pl.col("invoice_no") == "536380").then(pl.col("line_total_gbp") + 1).otherwise(pl.col("line_total_gbp"))
        .alias("line_total_gbp")
    )
    house.write(tables.SILVER_TRANSACTIONS.path, broken, tables.SILVER_TRANSACTIONS.date_column)
    defs = build_definitions(resources=build_resources(str(landing), str(tmp_path / "lake")))
    check_key = dg.AssetCheckKey(dg.AssetKey(["silver", "transactions"]), "matches_contract")
    result = defs.resolve_implicit_global_asset_job_def().get_subset(asset_check_selection={check_key}).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, partition_key="2010-12-02",
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    description = evaluation.description or ""
    assert "line_totals_are_quantity_times_price_times_rate" in description
    assert "2010-12-02" in description and "536380" in description and "22139" in description
    assert "14527" not in str(evaluation.metadata)  # the customer id is not in Dagster's event log

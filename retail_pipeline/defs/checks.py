"""Building blocks of the asset checks that hold the lakehouse to its invariants (DESIGN.md section 3); each
asset module declares its own checks with them.

Checks of daily tables are daily-partitioned like their assets: in a run over a range of days they look at
exactly those days (a one-day run reads one month's files, whatever the history), and run on their own they
look at every day. Checks of whole tables read the rows the run wrote where the table has ``_run_id``
(append-only fetch logs), else the whole table. Each returns an ``AssetCheckResult`` with failure counts and
a few failing rows (customer columns hidden). Silver and gold checks are blocking (warnings aside): a
failure stops the assets below in the same run.
"""

import warnings

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core.dates import Window
from retail_pipeline.core.invariants import contract_failures
from retail_pipeline.core.preview import markdown_preview
from retail_pipeline.core.tables import Table
from retail_pipeline.defs.partitions import daily_partitions


def daily_check(**kwargs):
    """``dg.asset_check`` partitioned like the daily assets. Unpartitioned, a check of a daily asset costs
    Dagster ~0.2 s per step to list all ~5,800 partition keys while it looks up the materialisation it
    checked (13 checks per run: most of a one-day run, measured); partitioned, it looks up the run's days.
    Partitioned checks are a preview feature of dagster 1.13, hence the silenced warning."""
    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(partitions_def=daily_partitions, **kwargs)(fn)

    return decorate


def check_window(context: dg.AssetCheckExecutionContext) -> Window | None:
    """The business dates of the run's partition or partition range; None when the check runs with no
    partition (every day)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return Window(window.start.date(), window.end.date())


def scan_window(lakehouse: Lakehouse, table: Table, window: Window | None) -> pl.LazyFrame:
    """The rows of a daily ``table`` in ``window`` (every row when None)."""
    return lakehouse.scan(table.path, table.date_column, window)


def check_result(failures: pl.DataFrame, what: str, **metadata) -> dg.AssetCheckResult:
    """Passed when ``failures`` is empty; else its count, ``what`` failed, and a sample (customers hidden)."""
    sample = markdown_preview(failures)
    return dg.AssetCheckResult(
        passed=failures.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{failures.height} {what}" if failures.height else None,
        metadata={"failures": failures.height, **metadata, **({"sample": dg.MetadataValue.md(sample)} if failures.height else {})},
    )


def contract_check(table: Table) -> dg.AssetChecksDefinition:
    """``matches_contract`` of ``table``'s asset: the rows written match the table's contract. Blocking from
    silver on; a warning on bronze, whose rows are the strings found and are judged in silver."""
    model, date_column = table.contract, table.date_column

    @(daily_check if date_column else dg.asset_check)(
        asset=dg.AssetKey(table.key),
        name="matches_contract",
        blocking=table.layer != "bronze",
        description=f"The rows written match {model.__name__}: types, nullability, allowed values, ranges, "
        "uniqueness and cross-column rules (retail_pipeline/core/contracts.py).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
        if date_column is not None:
            frame = scan_window(lakehouse, table, check_window(context))
        else:
            frame = lakehouse.scan(table.path)
            if "_run_id" in frame.collect_schema().names():
                # The rows this run appended carry its id (none when the check runs on its own: check them all).
                written = frame.filter(pl.col("_run_id") == context.run.run_id)
                frame = written if written.select(pl.len()).collect().item() else frame
        collected = frame.collect()
        failures = contract_failures(model, collected)
        by_rule = failures.group_by("column", "check").len().sort("len", descending=True)
        result = check_result(failures, f"contract failures in {table.path}", rows_checked=collected.height)
        if failures.height:
            for column, check, n in by_rule.head(10).iter_rows():
                result.metadata[f"failures: {column} / {check}"] = dg.MetadataValue.int(n)
        return result

    return _check

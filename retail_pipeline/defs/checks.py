"""Building blocks of the asset checks that hold the lakehouse to its invariants (DESIGN.md section 3); each
asset module declares its own checks with them.

Checks of daily tables are daily-partitioned like their assets: in a run over a range of days they look at
exactly those days (a one-day run reads one month's files, whatever the history), and run on their own they
look at every day. Checks of whole tables read the rows the run wrote where the table has ``_run_id``
(append-only fetch logs), else the whole table. Each returns an ``AssetCheckResult`` with failure counts and
a few failing rows (customer columns hidden). Silver and gold checks are blocking (warnings aside): a
failure stops the assets below in the same run.
"""

import functools
import warnings

import dagster as dg
import polars as pl

from retail_pipeline.adapters.build_state import record_failed_check
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.dates import Window
from retail_pipeline.core.invariants import contract_failures, describe_failures, redact_failure_cases
from retail_pipeline.core.preview import markdown_preview
from retail_pipeline.core.tables import Table
from retail_pipeline.defs.partitions import daily_partitions


def _records_failure(fn, asset: dg.AssetKey, name: str):
    """``fn`` (a blocking check taking the ``lakehouse`` resource), writing a failed result to the build log
    for the dates it checked (the whole table for an unpartitioned check of a whole table)."""
    table = "/".join(asset.path)

    @functools.wraps(fn)  # Dagster reads the resources a check needs from the wrapped signature
    def check(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except Exception:
            _record(args, kwargs)  # a check that cannot run has not passed
            raise
        if not result.passed:
            _record(args, kwargs)
        return result

    def _record(args, kwargs) -> None:
        lakehouse = kwargs.get("lakehouse")
        if not isinstance(lakehouse, Lakehouse):
            return
        context = args[0] if args else kwargs.get("context")
        window = check_window(context) if isinstance(context, dg.AssetCheckExecutionContext) else None
        entry = tables.BY_PATH.get(table)
        if window is None and entry is not None and entry.date_column is not None:
            return  # a daily table checked with no partition (by hand): no dates to hold back
        run_id = context.run.run_id if context is not None else "unknown"
        record_failed_check(lakehouse, table, name, window, run_id)

    return check


def daily_check(**kwargs):
    """``dg.asset_check`` partitioned like the daily assets. Unpartitioned, a check of a daily asset costs
    Dagster ~0.2 s per step to list all ~5,800 partition keys while it looks up the materialisation it
    checked (13 checks per run: most of a one-day run, measured); partitioned, it looks up the run's days.
    Partitioned checks are a preview feature of dagster 1.13, hence the silenced warning. A blocking one
    records its failures in the build log."""
    def decorate(fn):
        if kwargs.get("blocking"):
            fn = _records_failure(fn, kwargs["asset"], kwargs.get("name") or fn.__name__)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(partitions_def=daily_partitions, **kwargs)(fn)

    return decorate


def blocking_check(**kwargs):
    """``dg.asset_check(blocking=True)`` of a whole table, recording its failures in the build log."""
    def decorate(fn):
        return dg.asset_check(blocking=True, **kwargs)(_records_failure(fn, kwargs["asset"], kwargs.get("name") or fn.__name__))

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

    if date_column:
        decorator = functools.partial(daily_check, blocking=table.checked)
    elif table.checked:
        decorator = blocking_check
    else:
        decorator = functools.partial(dg.asset_check, blocking=False)

    @decorator(
        asset=dg.AssetKey(table.key),
        name="matches_contract",
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
        what = f"contract failures in {table.path}"
        if failures.height:
            what += f": {describe_failures(failures, collected, date_column)}"
        result = check_result(redact_failure_cases(failures, collected), what, rows_checked=collected.height)
        if failures.height:
            for column, check, n in by_rule.head(10).iter_rows():
                result.metadata[f"failures: {column} / {check}"] = dg.MetadataValue.int(n)
        return result

    return _check

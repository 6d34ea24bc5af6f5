"""bronze/transactions: the raw records of each business date; and bronze/erased_rows, the count of those
left out for erasure, a side table its step writes (``adapters/io_manager.write_side_table``)."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import polars as pl

from retail_pipeline.adapters.build_state import record_source_changed
from retail_pipeline.adapters.erasure_register import registered
from retail_pipeline.adapters.io_manager import write_side_table
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import read_manifest
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.adapters.partition_metadata import add_partition_metadata
from retail_pipeline.adapters.staging import StagedRecords
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import conform, empty
from retail_pipeline.core.dates import Window
from retail_pipeline.core.erasure import drop_erased
from retail_pipeline.core.invariants import LINES_COMPLETE, LINES_MISPLACED, dates_not_built, line_accounting
from retail_pipeline.core.landing_files import (
    BUSINESS_DATE,
    LandingError,
    bronze_rows,
    earliest_placeable,
    with_business_date,
)
from retail_pipeline.core.manifest import FINGERPRINT, active_files
from retail_pipeline.defs.bronze.erased_customers import erased_customers
from retail_pipeline.defs.checks import check_result, check_window, contract_check, daily_check
from retail_pipeline.defs.partitions import partition_bounds, window_dates
from retail_pipeline.defs.policies import DAILY, DELTA, input_of, key_of


@dg.multi_asset(
    outs={
        "transactions": dg.AssetOut(
            key=key_of(tables.BRONZE_TRANSACTIONS),
            description="Raw transaction records of each business date: every field as the string found in "
            "the file, with lineage (source file, record number, file sha256, format, ingestion time, run id). "
            "A partition holds exactly the records of the active landing files that contain its date, less "
            "those of the customers in the erasure register.",
            kinds=DELTA,
        ),
    },
    ins={"manifest": input_of(tables.MANIFEST)},
    deps=[erased_customers],
    group_name="bronze",
    **DAILY,
)
def transactions(
    context: dg.AssetExecutionContext, manifest: pl.LazyFrame, landing: LandingZone, lakehouse: Lakehouse
):
    """Bronze transactions of the run's business dates from the active landing files, less the erased
    customers' records. The same step writes ``bronze/erased_rows`` (per business date and landing-file
    version, the records left out because their customer is in the erasure register: counts only, no
    customer id; with bronze's rows they account for every record of the active files), right after
    bronze, so the count never describes another version of bronze."""
    window = Window(*window_dates(context))
    valid_start, valid_end = partition_bounds()
    ingested_at = datetime.now(timezone.utc)
    files = active_files(manifest, window)
    staged = StagedRecords(lakehouse.root)
    parts, changed = [], {}
    for file in files.iter_rows(named=True):
        path, sha256 = file["path"], file["sha256"]
        try:
            if staged.has(sha256) and landing.fingerprint(path) == {k: file[k] for k in FINGERPRINT}:
                # Unchanged since it was landed (the landing's own test), and parsed then: read its dates only.
                records = staged.scan(sha256)
                earliest = earliest_placeable(records, valid_start, valid_end)
                parts.append(bronze_rows(
                    records, path, sha256, file["format"], valid_start, valid_end, earliest, window.start,
                    window.end, ingested_at, context.run_id,
                ))
                continue
            found, rows = _read_window(landing, path, valid_start, valid_end, window, ingested_at, context.run_id)
        except (LandingError, OSError) as exc:
            if changed:  # what was found so far is reported all the same
                record_source_changed(lakehouse, tables.BRONZE_TRANSACTIONS.path, window, changed, context.run_id)
            raise dg.Failure(
                f"{path} was landed but cannot be read now ({exc}): the next landing (`retail-pipeline run`, or "
                "the landing sensor's next tick) finds it changed or gone, and these dates are rebuilt then."
            ) from exc
        if found != sha256:
            changed[path] = found
            continue
        parts.append(rows)
    if changed:
        # The landing step is the manifest's one writer: bronze says what it found in its own state, and
        # the next landing reads these files again whatever their stats say.
        record_source_changed(lakehouse, tables.BRONZE_TRANSACTIONS.path, window, changed, context.run_id)
        names = ", ".join(sorted(changed))
        raise dg.Failure(
            f"{names} changed since {'it was' if len(changed) == 1 else 'they were'} landed (the bytes no longer "
            f"match the sha256 the landing recorded): nothing of {window.start} .. {window.end - timedelta(days=1)} "
            "was written. They are marked to be read again: the next `retail-pipeline run` (or the landing "
            "sensor's next tick) lands the new version and rebuilds their dates."
        )
    landed = conform(pl.concat(parts, how="diagonal_relaxed"), tables.BRONZE_TRANSACTIONS.schema) if parts else empty(tables.BRONZE_TRANSACTIONS.schema).lazy()
    kept, erased = drop_erased(landed, registered(lakehouse), context.run_id)
    frame, erased = pl.collect_all([kept, erased])
    rows_erased = int(erased["rows_erased"].sum())
    if rows_erased:
        context.log.info(f"{rows_erased} record(s) of customers in the erasure register were not landed")
    # Each day's erased count on its own event, the run's file count on its last (adapters/partition_metadata.py).
    day = tables.ERASED_ROWS.date_column
    per_day = erased.group_by(day).agg(pl.col("rows_erased").sum())
    add_partition_metadata(
        context.add_asset_metadata, key_of(tables.BRONZE_TRANSACTIONS), context.partition_keys, per_day, day,
        last={"files_read": len(parts)}, default={"rows_erased": 0},
    )
    yield dg.Output(frame.lazy(), "transactions")
    write_side_table(context, lakehouse, tables.ERASED_ROWS, erased, window)


def _read_window(
    landing: LandingZone, path: str, start: date, end: date, window: Window, ingested_at: datetime, run_id: str
) -> tuple[str, pl.LazyFrame]:
    """(sha256 read, bronze rows of ``window``) of a landing file read chunk by chunk, keeping only the rows
    of the window (and those with no placeable date, until the file's earliest date is known): memory
    follows a chunk and the window, not the file."""
    opened = landing.open(path)
    kept, unplaced, earliest = [], [], None
    for chunk in opened.chunks():
        records = with_business_date(chunk).lazy()
        first = earliest_placeable(records, start, end)
        earliest = first if earliest is None or (first is not None and first < earliest) else earliest
        day = pl.col(BUSINESS_DATE)
        placeable = (day >= start) & (day < end)
        kept.append(records.filter(placeable & window.expr(BUSINESS_DATE)).collect())
        unplaced.append(records.filter(~placeable.fill_null(False)).collect())
    records = pl.concat([*kept, *unplaced]).lazy()
    rows = bronze_rows(
        records, path, opened.sha256, opened.format, start, end, earliest, window.start, window.end, ingested_at, run_id
    )
    return opened.sha256, rows


matches_contract = contract_check(tables.BRONZE_TRANSACTIONS)


@daily_check(
    asset=key_of(tables.BRONZE_TRANSACTIONS), blocking=True, additional_deps=[key_of(tables.MANIFEST)]
)
def every_line_is_in_bronze(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every physical line of each active landing file holding a date written is in exactly one record of
    bronze (its ``_first_line``.._``_last_line``), of an erased record, or is the header or a blank line,
    counted against the lines the manifest counted in the file. A file is checked once all its dates are
    built from its version (a range split over runs waits for its last run)."""
    window = check_window(context)
    valid_start, valid_end = partition_bounds()
    manifest = read_manifest(lakehouse).lazy().filter(pl.col("status") == "active")
    in_range = pl.col("business_dates").list.eval(pl.element().filter((pl.element() >= valid_start) & (pl.element() < valid_end)))
    files = manifest.with_columns(in_range.alias("partition_dates"))
    if window is not None:
        files = files.filter(pl.col("partition_dates").list.eval(window.expr(pl.element())).list.any())
    files = files.select("path", "sha256", "lines", "lines_outside_records", "partition_dates").collect()
    dates = files["partition_dates"].explode().drop_nulls()
    if dates.is_empty():
        return check_result(files.clear(), "", files_checked=0)
    span = Window(dates.min(), dates.max() + timedelta(days=1))
    bronze = lakehouse.scan(tables.BRONZE_TRANSACTIONS.path, "_partition_date", span).select(
        "_file_sha256", "_partition_date", "_source_sheet", "_first_line", "_last_line"
    )
    erased = (
        lakehouse.scan(tables.ERASED_ROWS.path, "_partition_date", span).select("_file_sha256", "_partition_date", "lines_erased")
        if lakehouse.exists(tables.ERASED_ROWS.path)
        else pl.LazyFrame(schema={"_file_sha256": pl.String, "_partition_date": pl.Date, "lines_erased": pl.Int64})
    )
    # A file whose dates are not all built yet (a big export split over runs) waits for the run that builds
    # its last one: only the files ready now have their records sorted and counted.
    waiting = dates_not_built(files.lazy(), bronze, erased).collect(engine="streaming")  # bounded by the file's dates
    ready = files.filter(~pl.col("sha256").is_in(waiting["sha256"].implode()))
    accounting = line_accounting(ready.lazy(), bronze, erased)
    failures = accounting.filter(LINES_COMPLETE & LINES_MISPLACED)
    what = "landing files whose lines are not each in one bronze record, an erased record or the header and blanks"
    if failures.height:
        what += ": " + "; ".join(
            f"{path} ({unaccounted:+,} lines unaccounted, {overlaps} records overlapping)"
            for path, unaccounted, overlaps in failures.select("path", "unaccounted", "overlapping_records").head(5).iter_rows()
        )
    return check_result(
        failures.drop("sha256", "dates_not_built", "records_without_lines"),
        what,
        files_checked=accounting.filter(LINES_COMPLETE).height,
        files_awaiting_dates=waiting.height,
        files_without_line_spans=accounting.filter(pl.col("records_without_lines") > 0).height,
        lines_checked=int(accounting.filter(LINES_COMPLETE)["lines"].sum()),
    )

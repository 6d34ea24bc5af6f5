"""The invariants of DESIGN.md section 3 as pure functions: each returns the rows (dates, keys) that break
one, empty when it holds. The asset checks beside each asset (``defs/``) read the tables and call these.
"""

import pandera.polars as pa
import polars as pl

from retail_pipeline.core.preview import HIDDEN, PERSONAL_COLUMNS, hide_personal
from retail_pipeline.core.transforms.kpis import CURRENCIES, IS_CANCELLATION, IS_GROSS

# Money in gold is exact to the millionth; half a penny leaves room for float representation only.
MONEY_TOLERANCE = 0.005


def row_conservation_failures(
    bronze: pl.LazyFrame, silver: pl.LazyFrame, quarantine: pl.LazyFrame, stats: pl.LazyFrame
) -> pl.DataFrame:
    """Dates where bronze rows != silver rows + quarantined rows + duplicates dropped, counted in the tables."""
    def per_day(frame: pl.LazyFrame, column: str, name: str) -> pl.LazyFrame:
        return frame.group_by(pl.col(column).alias("business_date")).agg(pl.len().alias(name))

    counts = (
        stats.select("business_date", "duplicates_dropped")
        .join(per_day(bronze, "_partition_date", "bronze"), on="business_date", how="left")
        .join(per_day(silver, "invoice_date", "silver"), on="business_date", how="left")
        .join(per_day(quarantine, "_partition_date", "quarantined"), on="business_date", how="left")
        .with_columns(pl.col("bronze", "silver", "quarantined").fill_null(0))
    )
    accounted = pl.col("silver") + pl.col("quarantined") + pl.col("duplicates_dropped")
    return counts.filter(pl.col("bronze") != accounted).sort("business_date").collect()


def dates_not_built(files: pl.LazyFrame, bronze: pl.LazyFrame, erased: pl.LazyFrame) -> pl.LazyFrame:
    """Per file version of ``files`` with dates not yet built from it (``sha256``, ``dates_not_built``):
    its ``partition_dates`` that hold nothing of this version in bronze or among the erased records. Reads two
    columns of bronze, so a check can leave out the files not ready yet before it sorts their records."""
    versions = files.select("sha256", pl.col("partition_dates").alias("_dates"))
    shas = versions.select(pl.col("sha256").alias("_file_sha256"))
    held = pl.concat(
        [
            bronze.select("_file_sha256", "_partition_date").join(shas, on="_file_sha256", how="semi"),
            erased.select("_file_sha256", "_partition_date"),
        ]
    ).unique()
    return (
        versions.explode("_dates")
        .drop_nulls("_dates")
        .join(held, left_on=["sha256", "_dates"], right_on=["_file_sha256", "_partition_date"], how="anti")
        .group_by("sha256")
        .agg(pl.col("_dates").sort().alias("dates_not_built"))
    )


# The most landing-file lines whose records one query of the line check sorts (a bigger file is sorted alone).
LINE_CHECK_LINES = 2_000_000


def _batches(files: pl.DataFrame, max_lines: int) -> list[list[str]]:
    """The file versions (``sha256``, ``lines``) in consecutive batches of at most ``max_lines`` lines."""
    batches, batch, held = [], [], 0
    for sha, lines in files.iter_rows():
        if batch and held + (lines or 0) > max_lines:
            batches.append(batch)
            batch, held = [], 0
        batch.append(sha)
        held += lines or 0
    return batches + ([batch] if batch else [])


def line_accounting(files: pl.LazyFrame, bronze: pl.LazyFrame, erased: pl.LazyFrame) -> pl.DataFrame:
    """Where every physical line of each landing file version went: into a bronze record's span, into an
    erased record's, or outside any record (header and blank lines), per file of ``files`` (``path``,
    ``sha256``, ``lines``, ``lines_outside_records`` and ``partition_dates``, the dates its records are
    stored under). ``overlapping_records`` counts records starting on a line of the record before them;
    ``dates_not_built`` lists the file's dates that hold nothing of this version yet; ``unaccounted`` is
    lines - (bronze + erased + outside)."""
    # Files batched up to LINE_CHECK_LINES lines (a big export alone), three columns of their records with the
    # version as a small integer: a year-long export of 30M records sorted with its sha256 on every row took
    # the run that completed it past 7 GiB, and 305 day files checked one by one cost a query each.
    per_file = []
    for batch in _batches(files.select("sha256", "lines").collect(), LINE_CHECK_LINES):
        ids = {sha: n for n, sha in enumerate(batch)}
        spans = bronze.filter(pl.col("_file_sha256").is_in(batch)).select(
            pl.col("_file_sha256").replace_strict(ids, return_dtype=pl.UInt32).alias("_version"),
            pl.col("_source_sheet").fill_null(""),
            "_first_line",
            "_last_line",
        )
        per_file.append(
            spans.sort("_version", "_source_sheet", "_first_line", nulls_last=True)
            .with_columns(
                (pl.col("_first_line") <= pl.col("_last_line").shift(1).over("_version", "_source_sheet"))
                .fill_null(False)
                .alias("_overlaps")
            )
            .group_by("_version")
            .agg(
                (pl.col("_last_line") - pl.col("_first_line") + 1).sum().alias("lines_in_bronze"),
                pl.col("_overlaps").sum().alias("overlapping_records"),
                pl.col("_first_line").is_null().sum().alias("records_without_lines"),
            )
            .with_columns(pl.col("_version").replace_strict(dict(enumerate(batch)), return_dtype=pl.String).alias("sha256"))
            .drop("_version")
            .collect(engine="streaming")  # the filter on the versions streams: sha256 is never held whole
        )
    schema = {"sha256": pl.String, "lines_in_bronze": pl.Int64, "overlapping_records": pl.UInt32, "records_without_lines": pl.UInt32}
    in_bronze = pl.concat([f.cast(schema) for f in per_file]).lazy() if per_file else pl.LazyFrame(schema=schema)
    in_erased = erased.group_by(pl.col("_file_sha256").alias("sha256")).agg(
        pl.col("lines_erased").sum().alias("lines_erased"),
        pl.col("lines_erased").is_null().sum().alias("erased_without_lines"),
    )
    not_built = dates_not_built(files, bronze, erased)
    return (
        files.select("path", "sha256", "lines", "lines_outside_records")
        .join(in_bronze, on="sha256", how="left")
        .join(in_erased, on="sha256", how="left")
        .join(not_built, on="sha256", how="left")
        .with_columns(
            pl.col("lines_in_bronze", "lines_erased", "overlapping_records").fill_null(0),
            (pl.col("records_without_lines").fill_null(0) + pl.col("erased_without_lines").fill_null(0)).alias(
                "records_without_lines"
            ),
            pl.col("dates_not_built").fill_null([]),
        )
        .drop("erased_without_lines")
        .with_columns(
            (
                pl.col("lines") - pl.col("lines_in_bronze") - pl.col("lines_erased") - pl.col("lines_outside_records")
            ).alias("unaccounted")
        )
        .sort("path")
        .collect()
    )


# Rows of ``line_accounting``: a file checkable now (all its dates built, every record with its span) ...
LINES_COMPLETE = (pl.col("dates_not_built").list.len() == 0) & (pl.col("records_without_lines") == 0)
# ... and one whose lines are not each in exactly one place (a record lost or invented, a line in two).
LINES_MISPLACED = (pl.col("unaccounted") != 0) | (pl.col("overlapping_records") > 0)


def line_conservation_failures(files: pl.LazyFrame, bronze: pl.LazyFrame, erased: pl.LazyFrame) -> pl.DataFrame:
    """The files of ``line_accounting`` whose every date is built from their version and whose lines are not
    each in exactly one place. Files landed before line accounting (records without a span) are left out:
    rebuilding their dates gives them spans."""
    return line_accounting(files, bronze, erased).filter(LINES_COMPLETE & LINES_MISPLACED)


REVENUE = [f"{kind}_revenue_{ccy}" for ccy in CURRENCIES for kind in ("gross", "cancelled")]


def revenue_mismatches(silver: pl.LazyFrame, daily_sales: pl.LazyFrame) -> pl.DataFrame:
    """Dates where gold's gross or cancelled revenue differs from the sum of silver's lines, per currency."""
    measures = []
    for ccy in CURRENCIES:
        total = pl.col(f"line_total_{ccy}")
        measures += [
            total.filter(IS_GROSS).sum().alias(f"gross_revenue_{ccy}"),
            (-total.filter(IS_CANCELLATION).sum()).alias(f"cancelled_revenue_{ccy}"),
        ]
    return _mismatches(silver.group_by("invoice_date").agg(measures), daily_sales)


def total_mismatches(detail: pl.LazyFrame, summary: pl.LazyFrame) -> pl.DataFrame:
    """Values of ``invoice_date`` (a date or a month) where ``summary``'s gross or cancelled revenue differs
    from the sum of ``detail``'s (e.g. the monthly marts against gold/daily_sales)."""
    return _mismatches(detail.group_by("invoice_date").agg(pl.col(REVENUE).sum()), summary)


def _mismatches(expected: pl.LazyFrame, gold: pl.LazyFrame) -> pl.DataFrame:
    from_gold = gold.group_by("invoice_date").agg(pl.col(REVENUE).sum())
    joined = expected.join(from_gold, on="invoice_date", how="full", suffix="_gold", coalesce=True).fill_null(0.0)
    off = pl.any_horizontal([(pl.col(n) - pl.col(f"{n}_gold")).abs() > MONEY_TOLERANCE for n in REVENUE])
    return joined.filter(off).sort("invoice_date").collect()


def fact_mismatches(silver: pl.LazyFrame, fact: pl.LazyFrame) -> pl.DataFrame:
    """Dates where the star's fact rows or money differ from silver's lines."""
    def per_day(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.group_by("invoice_date").agg(
            pl.len().alias("lines"), *[pl.col(f"line_total_{c}").sum().alias(c) for c in CURRENCIES]
        )

    joined = per_day(silver).join(per_day(fact), on="invoice_date", how="full", suffix="_fact", coalesce=True)
    joined = joined.with_columns(pl.exclude("invoice_date").fill_null(0))
    off = (pl.col("lines") != pl.col("lines_fact")) | pl.any_horizontal(
        [(pl.col(c) - pl.col(f"{c}_fact")).abs() > MONEY_TOLERANCE for c in CURRENCIES]
    )
    return joined.filter(off).sort("invoice_date").collect()


def contract_failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """Pandera's failure cases of ``frame`` against ``model`` (empty when it passes). Collected frames only:
    on a LazyFrame pandera checks the schema and silently skips the data rules."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases.select("column", "check", "failure_case", "index")
    return pl.DataFrame(schema={"column": pl.String, "check": pl.String, "failure_case": pl.String, "index": pl.Int32})


# Columns that identify a row to a person without naming a customer, in the order a message gives them.
IDENTIFYING_COLUMNS = ("invoice_no", "stock_code", "month", "country", "table", "_source_file", "_source_row")


def redact_failure_cases(failures: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """``contract_failures(model, frame)`` fit for Dagster's event log, which an erasure cannot rewrite: a
    failure case of a personal column (customer id, key, raw record) is hidden, and one of a frame-level rule
    (pandera gives the whole row) is replaced by the row's identifying columns, never a customer's."""
    if failures.is_empty():
        return failures  # the labels below cost a pass over every row (0.3 s a million): none needed
    keys = [c for c in IDENTIFYING_COLUMNS if c in frame.columns]
    label = pl.concat_str([pl.format(f"{c}={{}}", pl.col(c).cast(pl.String).fill_null("")) for c in keys], separator=" ")
    labels = hide_personal(frame).select(label.alias("__label") if keys else pl.lit(HIDDEN).alias("__label")).with_row_index("index")
    return (
        failures.join(labels.with_columns(pl.col("index").cast(failures.schema["index"])), on="index", how="left")
        .with_columns(
            pl.when(pl.col("column").is_in(list(PERSONAL_COLUMNS)))
            .then(pl.lit(HIDDEN))
            # A rule on the schema (a dtype, a missing column) or on a value of a column that is not personal.
            .when(pl.col("index").is_null() | pl.col("column").is_in(list(frame.columns)))
            .then(pl.col("failure_case"))
            .otherwise(pl.coalesce("__label", pl.lit(HIDDEN)))
            .alias("failure_case")
        )
        .drop("__label")
    )


def describe_failures(failures: pl.DataFrame, frame: pl.DataFrame, date_column: str | None, first: int = 3) -> str:
    """One line for ``contract_failures(model, frame)``: the rules broken, the dates of the rows breaking
    them and the first of those rows by their identifying columns (never a customer's)."""
    rules = failures.group_by("check").len().sort("len", "check", descending=[True, False])
    text = ", ".join(f"{check} ({n})" for check, n in rules.iter_rows())
    rows = failures.filter(pl.col("index").is_not_null()).get_column("index").unique().sort()
    if rows.is_empty():
        return text
    # Shifted fields of a record landed with its raw text may hold an id: hidden as in previews.
    broken = hide_personal(frame).with_row_index("__index").filter(pl.col("__index").is_in(rows.implode()))
    if date_column is not None and date_column in broken.columns:
        dates = broken.get_column(date_column).unique().sort().cast(pl.String)
        shown = ", ".join(dates.head(5).to_list()) + (f" and {dates.len() - 5} more" if dates.len() > 5 else "")
        text += f" on {shown}"
    keys = [c for c in IDENTIFYING_COLUMNS if c in broken.columns]
    if keys:
        samples = broken.head(first).select(
            pl.concat_str([pl.format(f"{c}={{}}", pl.col(c).cast(pl.String).fill_null("")) for c in keys], separator=" ")
        ).to_series()
        text += "; first rows: " + "; ".join(samples.to_list())
    return text

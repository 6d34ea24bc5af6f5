"""Silver: bronze records typed, validated, deduplicated, classified and enriched.

Every bronze row ends in exactly one place: ``transactions`` (valid, first of its duplicates),
``quarantine`` (cannot be trusted, with a reason), or the duplicates count of its business date.
The semantics are DESIGN.md section 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from retail_pipeline.core.contracts import (
    BAD_ENCODING,
    BUSINESS_COLUMNS,
    CANCELLATION_NOT_NEGATIVE,
    CUSTOMER_ID_HAS_WHITESPACE,
    DATE_OUT_OF_RANGE,
    MISSING_REQUIRED,
    PARTITION_STATS,
    SILVER_QUARANTINE,
    SILVER_TRANSACTIONS,
    UNBALANCED_QUOTE,
    UNPARSEABLE_DATE,
    UNPARSEABLE_PRICE,
    UNPARSEABLE_QUANTITY,
    WRONG_FIELD_COUNT,
    conform,
)
from retail_pipeline.core.enrichment.countries import normalise_country_key
from retail_pipeline.core.parsing import (
    blank_to_null,
    normalise_customer_id,
    parse_price,
    parse_quantity,
    parse_timestamp,
)

# Non-product stock codes of the Online Retail data: postage, carriage, manual entries, discounts, samples,
# bad debt, commissions and bank/marketplace charges.
FEE_CODES = ("POST", "DOT", "C2", "M", "D", "S", "B", "CRUK", "BANK CHARGES", "AMAZONFEE", "PADS")
FEE_PREFIXES = ("DCGS", "GIFT_")

# Where a record came from, in file order: the survivor of duplicates is the first by this order.
SOURCE_ORDER = ("_source_file", "_source_sheet", "_source_row")
REPLACEMENT = "\ufffd"  # what landing decodes an undecodable byte to
REQUIRED = ("invoice_no", "stock_code", "invoice_ts", "quantity", "unit_price")



@dataclass(frozen=True)
class SilverResult:
    transactions: pl.DataFrame
    quarantine: pl.DataFrame
    partition_stats: pl.DataFrame


def _typed(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Bronze with each business field parsed (``__``-prefixed helper columns; raw fields untouched)."""
    return bronze.with_columns(
        blank_to_null(pl.col("invoice_no")).alias("__invoice_no"),
        blank_to_null(pl.col("stock_code")).alias("__stock_code"),
        # Exports pad and double spaces inconsistently; the same description must compare equal.
        blank_to_null(pl.col("description")).str.replace_all(r"\s+", " ").alias("__description"),
        parse_quantity(pl.col("quantity")).alias("__quantity"),
        parse_timestamp(pl.col("invoice_ts")).alias("__invoice_ts"),
        parse_price(pl.col("unit_price")).alias("__unit_price"),
        normalise_customer_id(pl.col("customer_id")).alias("__customer_id"),
        blank_to_null(pl.col("country")).alias("__country"),
    )


def _rejection(start: date, end: date) -> tuple[pl.Expr, pl.Expr]:
    """(reason_code, reason) of a typed row, both null when the row is valid. First failing rule wins."""
    missing = [blank_to_null(pl.col(c)).is_null() for c in REQUIRED]
    missing_names = pl.concat_str(
        [pl.when(m).then(pl.lit(name)) for m, name in zip(missing, REQUIRED, strict=True)],
        separator=", ",
        ignore_nulls=True,
    )
    business_date = pl.col("__invoice_ts").dt.date()
    rules: list[tuple[pl.Expr, str, pl.Expr]] = [
        (
            pl.col("_unbalanced_quote").fill_null(False),
            UNBALANCED_QUOTE,
            pl.format("a quote opened on line {} never closes (the lines after it are records of their own)", pl.col("_first_line")),
        ),
        (
            pl.col("_field_count").is_not_null(),
            WRONG_FIELD_COUNT,
            pl.format("record has {} fields, unlike its file's header", pl.col("_field_count")),
        ),
        (
            (pl.col("_encoding") == "invalid").fill_null(False)
            | pl.any_horizontal([pl.col(c).str.contains(REPLACEMENT, literal=True) for c in BUSINESS_COLUMNS]),
            BAD_ENCODING,
            pl.lit(f"bytes that are neither UTF-8 nor cp1252 (shown as {REPLACEMENT})"),
        ),
        (
            pl.any_horizontal(missing),
            MISSING_REQUIRED,
            pl.format("required field(s) empty: {}", missing_names),
        ),
        (
            pl.col("__invoice_ts").is_null(),
            UNPARSEABLE_DATE,
            pl.format("InvoiceDate '{}' matches no accepted date format", pl.col("invoice_ts")),
        ),
        (
            # A row whose own date differs from its partition was placed in its file's earliest date by
            # bronze because that date was out of range then; the partition it lives in decides.
            (business_date < start) | (business_date >= end) | (business_date != pl.col("_partition_date")),
            DATE_OUT_OF_RANGE,
            pl.format(
                "business date {} is outside the partitions' range [{}, {})",
                business_date.cast(pl.String),
                pl.lit(start.isoformat()),
                pl.lit(end.isoformat()),
            ),
        ),
        (
            pl.col("__quantity").is_null(),
            UNPARSEABLE_QUANTITY,
            pl.format("Quantity '{}' is not an integer", pl.col("quantity")),
        ),
        (
            pl.col("__unit_price").is_null(),
            UNPARSEABLE_PRICE,
            pl.format("UnitPrice '{}' is not a number", pl.col("unit_price")),
        ),
        # Silver's row rules (its contract's checks on input values): the row, not the run, is wrong.
        (
            pl.col("__invoice_no").str.starts_with("C") & (pl.col("__quantity") >= 0),
            CANCELLATION_NOT_NEGATIVE,
            pl.format("cancellation {} has quantity {}: a cancellation's quantity is negative", pl.col("__invoice_no"), pl.col("__quantity")),
        ),
        (
            pl.col("__customer_id").str.contains(r"\s"),
            CUSTOMER_ID_HAS_WHITESPACE,
            pl.lit("CustomerID has whitespace inside it: a customer id is one word"),
        ),
    ]
    code = pl.when(rules[0][0]).then(pl.lit(rules[0][1]))
    reason = pl.when(rules[0][0]).then(rules[0][2])
    for condition, rule_code, rule_reason in rules[1:]:
        code = code.when(condition).then(pl.lit(rule_code))
        reason = reason.when(condition).then(rule_reason)
    return code.otherwise(None).alias("reason_code"), reason.otherwise(None).alias("reason")


def line_type() -> pl.Expr:
    """``cancellation``, ``adjustment``, ``fee`` or ``sale`` (DESIGN.md section 4)."""
    invoice = pl.col("invoice_no")
    code = pl.col("stock_code").str.to_uppercase()
    is_fee = code.is_in(FEE_CODES) | pl.any_horizontal([code.str.starts_with(p) for p in FEE_PREFIXES])
    return (
        pl.when(invoice.str.starts_with("C"))
        .then(pl.lit("cancellation"))
        .when(invoice.str.starts_with("A") | (pl.col("quantity") <= 0) | (pl.col("unit_price") <= 0))
        .then(pl.lit("adjustment"))
        .when(is_fee)
        .then(pl.lit("fee"))
        .otherwise(pl.lit("sale"))
    )


def fx_missing_reason() -> pl.Expr:
    """Why a line has no rate: its day has no row in silver/fx_daily although an ECB fixing precedes it, so
    the latest fixing before it is older than RETAIL_FX_MAX_AGE_DAYS. Null when the line has its rates, and
    null too when no fixing at all precedes it (the rates are broken, not stale: the blocking
    ``every_line_has_an_fx_rate`` stops the run)."""
    stale = pl.col("__fx_day").is_null() & (pl.col("invoice_date") >= pl.col("__first_fixing"))
    return (
        pl.when(stale & (pl.col("invoice_date") > pl.col("__last_fixing")))
        .then(pl.format(
            "no exchange rate for {}: the last ECB fixing known is {}, older than RETAIL_FX_MAX_AGE_DAYS allows",
            pl.col("invoice_date").cast(pl.String), pl.col("__last_fixing").cast(pl.String),
        ))
        .when(stale)
        .then(pl.format(
            "no exchange rate for {}: no ECB fixing within RETAIL_FX_MAX_AGE_DAYS days on or before it",
            pl.col("invoice_date").cast(pl.String),
        ))
    )


def build_silver(
    bronze: pl.LazyFrame,
    fx_daily: pl.LazyFrame,
    dim_country: pl.LazyFrame,
    start: date,
    end: date,
    valid_start: date,
    valid_end: date,
    run_id: str,
) -> SilverResult:
    """Silver transactions, quarantine and per-day stats for the business dates ``[start, end)``.

    ``[valid_start, valid_end)`` is the partitions' whole range: a date outside it is quarantined.
    """
    reason_code, reason = _rejection(valid_start, valid_end)
    typed = _typed(bronze).with_columns(reason_code, reason)

    quarantine = conform(typed.filter(pl.col("reason_code").is_not_null()), SILVER_QUARANTINE).sort(
        "_partition_date", *SOURCE_ORDER
    )

    business = {f"__{c}": c for c in BUSINESS_COLUMNS}
    valid = (
        typed.filter(pl.col("reason_code").is_null())
        .select(*business, "_partition_date", *SOURCE_ORDER, "_file_sha256")
        .rename(business)
        # The survivor of exact duplicates is the first by (file, row). Equal rows share invoice_ts, hence
        # their business date: sorted once by (date, file, row), which is also silver's order, the first
        # occurrence of each row is the first by (file, row).
        .sort(pl.col("invoice_ts").dt.date(), *SOURCE_ORDER, nulls_last=False)
        .with_columns(pl.struct(BUSINESS_COLUMNS).is_first_distinct().alias("__first"))
    )

    rates = fx_daily.select(pl.col("date").alias("invoice_date"), "gbp_eur", "gbp_usd", pl.lit(True).alias("__fx_day"))
    fixings = fx_daily.select(
        pl.col("fixing_date").min().alias("__first_fixing"), pl.col("fixing_date").max().alias("__last_fixing")
    )
    countries = dim_country.select("country_key", "country_iso2", "region")
    line_total = pl.col("quantity") * pl.col("unit_price")
    transactions = (
        valid.filter(pl.col("__first"))
        .with_columns(
            pl.col("invoice_ts").dt.date().alias("invoice_date"),
            normalise_country_key(pl.col("country")).alias("country_key"),
            line_type().alias("line_type"),
            pl.col("stock_code").str.contains(r"^\d{5}").alias("is_product"),
            pl.lit(run_id).alias("_run_id"),
        )
        # The joins keep the rows in that order (no second sort).
        .join(countries, on="country_key", how="left", maintain_order="left")
        .join(rates, on="invoice_date", how="left", maintain_order="left")
        .join(fixings, how="cross", maintain_order="left")
        .with_columns(
            line_total.alias("line_total_gbp"),
            (line_total * pl.col("gbp_eur")).alias("line_total_eur"),
            (line_total * pl.col("gbp_usd")).alias("line_total_usd"),
            fx_missing_reason().alias("fx_missing_reason"),
        )
    )
    transactions = conform(transactions, SILVER_TRANSACTIONS)

    stats = _partition_stats(bronze, valid, quarantine, start, end, run_id)
    collected = pl.collect_all([transactions, quarantine, stats])
    return SilverResult(*collected)


def _partition_stats(
    bronze: pl.LazyFrame,
    valid: pl.LazyFrame,
    quarantine: pl.LazyFrame,
    start: date,
    end: date,
    run_id: str,
) -> pl.LazyFrame:
    """One row per business date of the window, empty days included, so a range run keeps per-day figures."""
    days = pl.LazyFrame(
        {"business_date": pl.date_range(start, end - timedelta(days=1), "1d", eager=True)},
        schema={"business_date": pl.Date},
    )
    by_day = pl.col("_partition_date").alias("business_date")
    bronze_rows = bronze.group_by(by_day).agg(pl.len().alias("bronze_rows"))
    kept = valid.group_by(by_day).agg(
        pl.col("__first").sum().alias("silver_rows"),
        (~pl.col("__first")).sum().alias("duplicates_dropped"),
    )
    rejected = (
        quarantine.group_by(by_day, "reason_code")
        .agg(pl.len().alias("rows"))
        .sort("reason_code")
        .group_by("business_date")
        .agg(
            pl.col("rows").sum().alias("quarantined_rows"),
            pl.struct("reason_code", "rows").alias("quarantined_by_reason"),
        )
    )
    counts = ["bronze_rows", "silver_rows", "quarantined_rows", "duplicates_dropped"]
    stats = (
        days.join(bronze_rows, on="business_date", how="left")
        .join(kept, on="business_date", how="left")
        .join(rejected, on="business_date", how="left")
        .with_columns(
            *[pl.col(c).fill_null(0) for c in counts],
            pl.col("quarantined_by_reason").fill_null([]),
            pl.lit(run_id).alias("_run_id"),
        )
        .sort("business_date")
    )
    return conform(stats, PARTITION_STATS)

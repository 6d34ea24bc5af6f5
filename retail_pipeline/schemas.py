"""Column names and types of every lakehouse table, in one place.

Transforms end with ``conform(frame, SCHEMA)`` so a table's columns never drift from what is written here,
and empty frames still carry their types (tables exist with their schema even when empty).
"""

from __future__ import annotations

import polars as pl

# The eight business fields of a transaction record, named as in DESIGN.md section 5.
BUSINESS_COLUMNS = [
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_ts",
    "unit_price",
    "customer_id",
    "country",
]

# Header variants of the Online Retail exports found in the wild -> our names.
HEADER_VARIANTS: dict[str, dict[str, str]] = {
    "online_retail_i": {
        "InvoiceNo": "invoice_no",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoice_ts",
        "UnitPrice": "unit_price",
        "CustomerID": "customer_id",
        "Country": "country",
    },
    "online_retail_ii": {
        "Invoice": "invoice_no",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoice_ts",
        "Price": "unit_price",
        "Customer ID": "customer_id",
        "Country": "country",
    },
}

LINEAGE = {
    "_source_file": pl.String,
    "_source_sheet": pl.String,  # the worksheet of an .xlsx file; null for CSV
    "_source_row": pl.Int64,
    "_file_sha256": pl.String,
    "_format": pl.String,
    "_ingested_at": pl.Datetime("us", "UTC"),
    "_run_id": pl.String,
}
# Columns that differ between two runs over the same input by design.
PER_RUN_COLUMNS = ["_ingested_at", "_run_id"]

LANDED_FILES = pl.Schema(
    {
        "path": pl.String,  # relative to the landing root
        "size_bytes": pl.Int64,
        "mtime": pl.Datetime("us", "UTC"),
        "sha256": pl.String,
        "format": pl.String,
        "extra_columns": pl.List(pl.String),  # header columns beyond the variant's: schema drift
        "rows": pl.Int64,
        "business_dates": pl.List(pl.Date),
        "min_date": pl.Date,
        "max_date": pl.Date,
        "status": pl.String,  # active | duplicate | missing | rejected
        "duplicate_of": pl.String,
        "reason": pl.String,
        "first_seen": pl.Datetime("us", "UTC"),
    }
)

BRONZE_TRANSACTIONS = pl.Schema(
    {
        **{c: pl.String for c in BUSINESS_COLUMNS},
        "_extra": pl.String,
        # Set only for a record whose field count differs from its header's: silver quarantines it.
        "_field_count": pl.Int64,
        "_raw_record": pl.String,
        "_partition_date": pl.Date,
        **LINEAGE,
    }
)

SILVER_TRANSACTIONS = pl.Schema(
    {
        "invoice_no": pl.String,
        "stock_code": pl.String,
        "description": pl.String,
        "quantity": pl.Int64,
        "invoice_ts": pl.Datetime("us"),
        "invoice_date": pl.Date,
        "unit_price": pl.Float64,
        "customer_id": pl.String,
        "country": pl.String,
        "country_iso2": pl.String,
        "region": pl.String,
        "line_type": pl.String,
        "is_product": pl.Boolean,
        "gbp_eur": pl.Float64,
        "gbp_usd": pl.Float64,
        "line_total_gbp": pl.Float64,
        "line_total_eur": pl.Float64,
        "line_total_usd": pl.Float64,
        "_source_file": pl.String,
        "_source_sheet": pl.String,
        "_source_row": pl.Int64,
        "_file_sha256": pl.String,
        "_run_id": pl.String,
    }
)

SILVER_QUARANTINE = pl.Schema(
    {
        **BRONZE_TRANSACTIONS,
        "reason_code": pl.String,
        "reason": pl.String,
    }
)

PARTITION_STATS = pl.Schema(
    {
        "business_date": pl.Date,
        "bronze_rows": pl.Int64,
        "silver_rows": pl.Int64,
        "quarantined_rows": pl.Int64,
        "duplicates_dropped": pl.Int64,
        "quarantined_by_reason": pl.List(pl.Struct({"reason_code": pl.String, "rows": pl.Int64})),
        "_run_id": pl.String,
    }
)

# Reference data: as the source gave it (bronze) and as the transforms use it (silver).
FX_RATES = pl.Schema(
    {
        "rate_date": pl.Date,
        "currency": pl.String,
        "rate_per_eur": pl.Float64,
        "source": pl.String,
        "source_name": pl.String,
        "payload_sha256": pl.String,
    }
)

FX_DAILY = pl.Schema(
    {
        "date": pl.Date,
        "fixing_date": pl.Date,
        "gbp_eur": pl.Float64,
        "gbp_usd": pl.Float64,
        "source": pl.String,
    }
)

COUNTRIES = pl.Schema(
    {
        "alpha_2": pl.String,
        "alpha_3": pl.String,
        "numeric": pl.String,
        "name": pl.String,
        "official_name": pl.String,
        "common_name": pl.String,
        "un_region": pl.String,
        "continent": pl.String,
        "source": pl.String,
        "source_name": pl.String,
    }
)

DIM_COUNTRY = pl.Schema(
    {
        "country_key": pl.String,
        "country_iso2": pl.String,
        "country_iso3": pl.String,
        "country_name": pl.String,
        "region": pl.String,
        "continent": pl.String,
        "match": pl.String,
    }
)


_MONEY = {
    f"{measure}_{ccy}": pl.Float64
    for measure in ("gross_revenue", "product_revenue", "cancelled_revenue", "net_revenue")
    for ccy in ("gbp", "eur", "usd")
}
_KPIS = {**_MONEY, "orders": pl.Int64, "customers": pl.Int64, "lines": pl.Int64, "units": pl.Int64, "aov_gbp": pl.Float64}

DAILY_SALES = pl.Schema({"invoice_date": pl.Date, "country": pl.String, "country_iso2": pl.String, **_KPIS})
MONTHLY_KPIS = pl.Schema({"month": pl.Date, **_KPIS})


def conform(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Select exactly ``schema``'s columns, in its order, cast to its types.

    A missing column is a bug in the transform, not something to paper over with nulls: it raises.
    """
    missing = [name for name in schema.names() if name not in frame.collect_schema().names()]
    if missing:
        raise ValueError(f"transform output lacks columns {missing}")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def empty(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)

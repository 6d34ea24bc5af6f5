"""How raw Online Retail strings become typed values: one definition, shared by bronze and silver.

Bronze needs the business date to place a row in its partition; silver needs the same parse to type it.
Every parse is non-strict (a bad value becomes null), so the caller decides what a null means.
"""

from __future__ import annotations

import polars as pl

# The date formats shops export: M/D/YYYY H:MM (UCI I), ISO with or without seconds (UCI II), DD-MM-YYYY H:MM.
TIMESTAMP_FORMATS = ("%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M")


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Trimmed string, with empty strings as null."""
    trimmed = expr.str.strip_chars()
    return pl.when(trimmed.str.len_chars() > 0).then(trimmed)


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """A naive timestamp from any of the accepted formats, or null."""
    value = expr.str.strip_chars()
    return pl.coalesce([value.str.to_datetime(fmt, strict=False, exact=True) for fmt in TIMESTAMP_FORMATS])


def parse_quantity(expr: pl.Expr) -> pl.Expr:
    """An integer quantity; ``6.0`` is accepted as 6, ``6.5`` is not a quantity."""
    value = expr.str.strip_chars()
    as_float = value.cast(pl.Float64, strict=False)
    return (
        pl.when(as_float.is_finite() & (as_float == as_float.round(0)))
        .then(as_float)
        .cast(pl.Int64, strict=False)
    )


def parse_price(expr: pl.Expr) -> pl.Expr:
    """A unit price (GBP) as a float, or null."""
    value = expr.str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def normalise_customer_id(expr: pl.Expr) -> pl.Expr:
    """CustomerID in its ``17850`` form: exports write ``17850.0`` too."""
    return blank_to_null(expr).str.replace(r"\.0+$", "")

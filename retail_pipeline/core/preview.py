"""What Dagster's metadata shows of a table's rows: a short markdown table with customer data hidden.

Previews land in the event log, which ``forget-customer`` cannot rewrite: a customer's id there would outlive
an erasure. So the columns that hold a customer's id or something derived from it show ``hidden`` (or stay
empty where the value is null, so a preview still tells whether the id was there).

The table is written here rather than by polars' formatter: ``pl.Config`` (the only way to ask polars for a
markdown table) sets and unsets environment variables, and changing the environment while native threads
read it crashes the process (seen: a CI worker died with SIGSEGV in ``pl.Config``'s exit under this function).
"""

import polars as pl

from retail_pipeline.core.contracts import BUSINESS_COLUMNS, ID_COLUMN, KEY_COLUMN, RAW_COLUMN

PERSONAL_COLUMNS = (ID_COLUMN, KEY_COLUMN, RAW_COLUMN)
HIDDEN = "hidden"


def hide_personal(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every personal column's non-null values replaced by ``HIDDEN``, and every business field
    of a record landed with its raw text (a wrong field count: its fields may sit in other columns, the id
    in ``country`` or ``unit_price``)."""
    hidden = lambda c: pl.when(pl.col(c).is_null()).then(None).otherwise(pl.lit(HIDDEN)).alias(c)  # noqa: E731
    personal = [hidden(c) for c in frame.columns if c in PERSONAL_COLUMNS]
    if RAW_COLUMN not in frame.columns:
        return frame.with_columns(personal)
    shifted = pl.col(RAW_COLUMN).is_not_null()
    fields = [
        pl.when(shifted & pl.col(c).is_not_null()).then(pl.lit(HIDDEN)).otherwise(pl.col(c).cast(pl.String)).alias(c)
        for c in frame.columns
        if c in BUSINESS_COLUMNS and c not in PERSONAL_COLUMNS
    ]
    return frame.with_columns(*personal, *fields)


def null_personal(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as a reader without access to personal data sees it: every personal column null, and every
    business field of a record landed with its raw text null where it is set (the id may sit in any of
    them). Types are kept."""
    personal = [pl.lit(None, frame.schema[c]).alias(c) for c in frame.columns if c in PERSONAL_COLUMNS]
    if RAW_COLUMN not in frame.columns:
        return frame.with_columns(personal)
    shifted = pl.col(RAW_COLUMN).is_not_null()
    fields = [
        pl.when(shifted).then(None).otherwise(pl.col(c)).alias(c)
        for c in frame.columns
        if c in BUSINESS_COLUMNS and c not in PERSONAL_COLUMNS
    ]
    return frame.with_columns(*personal, *fields)


def _cell(value: object, width: int) -> str:
    text = "" if value is None else " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= width else text[:width] + "…"


def markdown_preview(frame: pl.DataFrame, rows: int = 5, width: int = 40) -> str:
    """The first ``rows`` rows as a markdown table, personal columns hidden, text cut at ``width`` characters.
    A handful of rows for the event log, formatted in Python: no polars configuration is touched."""
    head = hide_personal(frame.head(rows))
    lines = ["| " + " | ".join(head.columns) + " |", "| " + " | ".join("---" for _ in head.columns) + " |"]
    lines += ["| " + " | ".join(_cell(value, width) for value in row) + " |" for row in head.iter_rows()]
    return "\n".join(lines)

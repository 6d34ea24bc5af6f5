"""What Dagster's metadata shows of a table's rows: a short markdown table with customer data hidden.

Previews land in the event log, which ``forget-customer`` cannot rewrite: a customer's id there would outlive
an erasure. So the columns that hold a customer's id or something derived from it show ``hidden`` (or stay
empty where the value is null, so a preview still tells whether the id was there).
"""

import polars as pl

from retail_pipeline.core.contracts import ID_COLUMN, KEY_COLUMN, RAW_COLUMN

PERSONAL_COLUMNS = (ID_COLUMN, KEY_COLUMN, RAW_COLUMN)
HIDDEN = "hidden"


def hide_personal(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every personal column's non-null values replaced by ``HIDDEN``."""
    return frame.with_columns(
        pl.when(pl.col(c).is_null()).then(None).otherwise(pl.lit(HIDDEN)).alias(c)
        for c in frame.columns
        if c in PERSONAL_COLUMNS
    )


def markdown_preview(frame: pl.DataFrame, rows: int = 5) -> str:
    """The first ``rows`` rows as a markdown table, personal columns hidden, long text cut at 40 characters."""
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_rows=rows,
        tbl_cols=-1,
        fmt_str_lengths=40,
    ):
        return str(hide_personal(frame.head(rows)))

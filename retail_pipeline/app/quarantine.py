"""``retail-pipeline quarantine``: what was rejected, why, and where to fix it in the source files."""

from datetime import date, timedelta

import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core.contracts import BUSINESS_COLUMNS
from retail_pipeline.core.dates import Window
from retail_pipeline.core.text_table import text_table


def quarantine_report(lakehouse: Lakehouse, day: date | None = None, examples: int = 3) -> str:
    """Quarantined rows by reason, and a few example rows of each with their file and record number."""
    window = Window(day, day + timedelta(days=1)) if day else None
    rows = lakehouse.read("silver/quarantine", "_partition_date", window)
    where = f"on {day}" if day else "in the lakehouse"
    if rows.height == 0:
        return f"No quarantined rows {where}."
    by_reason = rows.group_by("reason_code").agg(pl.len().alias("rows")).sort("rows", "reason_code", descending=[True, False])
    sample = (
        rows.sort("_partition_date", "_source_file", "_source_sheet", "_source_row", nulls_last=False)
        .group_by("reason_code", maintain_order=True)
        .head(examples)
        .select(
            "reason_code",
            pl.when(pl.col("_source_sheet").is_null())
            .then(pl.format("{}:{}", "_source_file", "_source_row"))
            .otherwise(pl.format("{}[{}]:{}", "_source_file", "_source_sheet", "_source_row"))
            .alias("record"),
            "reason",
            # Irregular records kept their text; for the others, the fields as found, empty ones included.
            pl.coalesce(
                "_raw_record", pl.concat_str([pl.col(c).fill_null("") for c in BUSINESS_COLUMNS], separator=",")
            ).alias("line"),
        )
    )
    summary = text_table(by_reason)
    examples_text = [
        f"  [{code}] {record}: {reason}\n      {line}" for code, record, reason, line in sample.iter_rows()
    ]
    return "\n".join(
        [
            f"{rows.height:,} quarantined rows {where}, by reason:",
            summary,
            "Examples (file:record, records numbered from 1 after the header; the line as it arrived):",
            *examples_text,
        ]
    )

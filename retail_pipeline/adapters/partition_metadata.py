"""Metadata of a daily asset's partitions, each on its own event.

In a run over a range of days Dagster records one materialisation per day and copies the output's metadata
(``add_output_metadata``, ``Output(metadata=)``) onto every one of them: a year's range wrote the whole range's
preview and schema 365 times per table, and storing those events was most of the run (measured: 2,920 events,
48 s of a 70 s run). Here each day's event carries its own figures (its row count, its quarantine by reason);
the run's figures, the preview and the schema go on the range's last day only (the event the asset page shows
as the latest).
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import date

import dagster as dg
import polars as pl

# ``add_asset_metadata(metadata, asset_key=..., partition_key=...)`` of Dagster's step context (an asset's
# context, or the step context an IO manager's output context holds).
AddAssetMetadata = Callable[..., None]


def partition_key(day: date) -> str:
    return day.isoformat()  # daily partitions' key format (%Y-%m-%d)


def add_partition_metadata(
    add: AddAssetMetadata,
    asset_key: dg.AssetKey,
    keys: Iterable[str],
    figures: pl.DataFrame,
    date_column: str,
    last: Mapping[str, object] | None = None,
    default: Mapping[str, object] | None = None,
) -> None:
    """Each row of ``figures`` (one per business date in ``date_column``) as the metadata of that date's
    event; ``default`` for a day of ``keys`` with no row (a day without data: its row count is 0), ``last``
    added to the last key's event. A loop over days, never over records."""
    keys = list(keys)
    by_key = {
        partition_key(row.pop(date_column)): row
        for row in figures.iter_rows(named=True)
        if row[date_column] is not None
    }
    for key in keys:
        metadata = {**(default or {}), **by_key.get(key, {})}
        if last and key == keys[-1]:
            metadata.update(last)
        if metadata:
            add(metadata, asset_key=asset_key, partition_key=key)

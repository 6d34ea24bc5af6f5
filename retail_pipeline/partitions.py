"""The one daily partitioning of the lakehouse: business dates in shop-local time.

A business date is the calendar date of ``InvoiceDate`` as the shop wrote it (timestamps carry no zone). The
timezone only decides when schedule ticks happen. ``RETAIL_PARTITIONS_START`` moves the first date.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

DEFAULT_START = "2010-12-01"
TIMEZONE = "Europe/London"


def partitions_start() -> date:
    raw = os.environ.get("RETAIL_PARTITIONS_START", DEFAULT_START)
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"RETAIL_PARTITIONS_START must be a date like 2010-12-01, got {raw!r}") from exc


# end_offset=1 makes today a partition: a shop's export of today's sales is not "out of range".
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start().isoformat(), timezone=TIMEZONE, end_offset=1
)


def partition_bounds() -> tuple[date, date]:
    """The range of placeable business dates: [first partition, day after the last partition (today))."""
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    return partitions_start(), today + timedelta(days=1)


def window_dates(context: dg.AssetExecutionContext | dg.OutputContext | dg.InputContext) -> tuple[date, date]:
    """The [start, end) business dates of the partition or partition range being run."""
    window = (
        context.partition_time_window
        if isinstance(context, dg.AssetExecutionContext)
        else context.asset_partitions_time_window
    )
    return _as_date(window.start), _as_date(window.end)


def _as_date(ts: datetime) -> date:
    return ts.date()

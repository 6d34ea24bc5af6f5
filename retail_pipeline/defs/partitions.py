"""The one daily partitioning of the lakehouse: business dates in shop-local time.

A business date is the calendar date of ``InvoiceDate`` as the shop wrote it (timestamps carry no zone). The
timezone only decides when schedule ticks happen. ``RETAIL_PARTITIONS_START`` moves the first date; it is
read once, when this module is imported (``settings.partitions_start``): the partitions are the one setting
that assets are declared with.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from retail_pipeline.core.dates import TIMEZONE, placeable_window
from retail_pipeline.settings import partitions_start

FIRST_DATE = partitions_start()

# end_offset=1 makes today a partition: a shop's export of today's sales is not "out of range".
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DATE.isoformat(), timezone=TIMEZONE, end_offset=1)


def partition_bounds() -> tuple[date, date]:
    """The range of placeable business dates: [first partition, day after the last partition (today))."""
    window = placeable_window(FIRST_DATE)
    return window.start, window.end


def window_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The [start, end) business dates of the partition or partition range being run."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()

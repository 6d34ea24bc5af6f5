"""Business dates: the calendar date of ``InvoiceDate`` as the shop wrote it (timestamps carry no zone), and
the ``[start, end)`` windows of dates that runs read and replace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

# The shop's timezone: it only decides when "today" begins and when schedule ticks happen.
TIMEZONE = "Europe/London"


@dataclass(frozen=True)
class Window:
    """Business dates ``[start, end)``."""

    start: date
    end: date

    def predicate(self, column: str) -> str:
        return f"{column} >= '{self.start.isoformat()}' AND {column} < '{self.end.isoformat()}'"

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    def expr(self, column: str | pl.Expr) -> pl.Expr:
        value = pl.col(column) if isinstance(column, str) else column
        return (value >= self.start) & (value < self.end)


def placeable_window(first: date, now: datetime | None = None) -> Window:
    """The business dates a row may have: from the first partition to today (in the shop's timezone), today
    included, so a shop's export of today's sales is not "out of range"."""
    today = (now or datetime.now(ZoneInfo(TIMEZONE))).astimezone(ZoneInfo(TIMEZONE)).date()
    return Window(first, today + timedelta(days=1))

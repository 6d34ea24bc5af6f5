"""Pages of a lakehouse table read at one pinned Delta version (the order and the cursor: ``core/paging.py``).

A daily table is read month by month from the cursor's month on (its files are partitioned by month, and
each month's file is sorted by date), so a page costs about one month of the table, whatever its size:
5,000 rows of a 10M-row ``silver/transactions`` in 60-110 ms here (in process). A whole table is read
whole: the largest is a few hundred thousand rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from deltalake import DeltaTable

from retail_pipeline.adapters.lakehouse import MONTH_COLUMN, Lakehouse
from retail_pipeline.core import paging
from retail_pipeline.core.contracts import RAW_COLUMN
from retail_pipeline.core.preview import null_personal
from retail_pipeline.core.tables import Table


class VersionGone(RuntimeError):
    """The version a cursor pinned can no longer be read (vacuumed, or its log purged)."""


@dataclass(frozen=True)
class PageRequest:
    table: Table
    limit: int
    cursor: str | None = None
    columns: list[str] | None = None  # None: every column
    filters: dict[str, Any] | None = None  # column -> value (typed), equality
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    personal: bool = False  # whether personal columns are shown (the `pii` scope)


@dataclass(frozen=True)
class Page:
    frame: pl.DataFrame
    version: int
    next_cursor: str | None


class TablePages:
    """Reads pages of the tables of one lakehouse, keeping the recently used versions of each open (opening
    a version reads its log: a few ms, more than the rest of a small page)."""

    def __init__(self, lakehouse: Lakehouse, versions_kept: int = 32):
        self.lakehouse = lakehouse
        self._latest: dict[str, DeltaTable] = {}
        self._pinned: OrderedDict[tuple[str, int], DeltaTable] = OrderedDict()
        self._kept = versions_kept
        self._lock = threading.Lock()
        self._updating = threading.Lock()

    def latest(self, table: Table) -> DeltaTable:
        """``table`` at its latest version: a handle pinned to it (never changed after), found by bringing a
        cached handle up to date (one log listing). The cached handle is only touched under the lock: two
        threads updating one handle at once are not safe."""
        with self._updating:
            delta = self._latest.get(table.path)
            try:
                if delta is None:
                    raise LookupError
                delta.update_incremental()
            except Exception:  # not opened yet, or deleted and written again from nothing: open it afresh
                delta = self._latest[table.path] = self.lakehouse.table(table.path)
            version = delta.version()
        return self.at(table, version)

    def open(self, table: Table, version: int) -> DeltaTable:
        """A handle of ``table`` at ``version`` of the caller's own (not cached, not shared)."""
        try:
            return DeltaTable(self.lakehouse.uri(table.path), version=version, storage_options=self.lakehouse.storage_options())
        except Exception as exc:  # deltalake's own errors for a version it no longer has
            raise VersionGone(f"version {version} of {table.path} can no longer be read") from exc

    def at(self, table: Table, version: int) -> DeltaTable:
        """``table`` at ``version``, from the handles kept (shared by threads: only methods that read it)."""
        key = (table.path, version)
        with self._lock:
            delta = self._pinned.get(key)
            if delta is not None:
                self._pinned.move_to_end(key)
                return delta
        delta = self.open(table, version)
        with self._lock:
            self._pinned[key] = delta
            while len(self._pinned) > self._kept:
                self._pinned.popitem(last=False)
        return delta

    def scan(self, table: Table, version: int) -> pl.LazyFrame:
        """``table`` at ``version``, lazily (its month partition column dropped)."""
        frame = pl.scan_delta(self.at(table, version), storage_options=self.lakehouse.storage_options())
        return frame.drop(MONTH_COLUMN) if MONTH_COLUMN in frame.collect_schema().names() else frame

    def page(self, request: PageRequest) -> Page:
        table = request.table
        key = paging.page_key(table)
        schema = table.schema
        filters = request.filters or {}
        query = paging.fingerprint(
            table, {**filters, "from": request.date_from, "to": request.date_to}, request.columns, request.personal
        )
        if request.cursor:
            cursor = paging.Cursor.decode(request.cursor, query)
            after, after_json = paging.typed_values(cursor.values, key, schema), cursor.values
            latest = self.latest(table).version()
            if cursor.version > latest:
                raise paging.CursorError("the cursor is not one this API gave out: pass next_cursor as it was returned")
            delta = self.at(table, cursor.version)
            version, skip = cursor.version, cursor.ties
        else:
            delta = self.latest(table)  # pinned: a run committing meanwhile does not move this page
            version, after, after_json, skip = delta.version(), [], [], 0
        names = [c for c in delta.schema().to_arrow().names if c != MONTH_COLUMN]
        unknown = [c for c in request.columns or () if c not in names]
        if unknown:
            raise paging.RequestError(
                f"{table.layer}.{table.name} has no column {', '.join(map(repr, unknown))}; its columns: {', '.join(names)}"
            )
        shown = request.columns or names
        masked = not request.personal
        needed = list(dict.fromkeys([*shown, *key, *([RAW_COLUMN] if masked and RAW_COLUMN in schema else [])]))

        where = paging.seek(key, after)
        for column, value in filters.items():
            where = where & (pl.col(column) == value)
        dated = paging.date_filter_column(table)
        if dated and request.date_from:
            where = where & (pl.col(dated) >= request.date_from)
        if dated and request.date_to:
            where = where & (pl.col(dated) <= request.date_to)

        want = request.limit + 1  # one more tells whether there is a next page
        try:
            frame = self._read(delta, table, key, needed, where, after, skip, want, request)
        except (OSError, pl.exceptions.ComputeError) as exc:
            if request.cursor:
                raise VersionGone(f"version {version} of {table.path} can no longer be read") from exc
            raise
        more = frame.height > request.limit
        frame = frame.head(request.limit)
        next_cursor = None
        if more:
            values = paging.key_values(frame, key, frame.height - 1)
            ties = paging.ties_at_end(frame, key)
            if frame.height == ties and values == after_json:
                ties += skip  # the whole page shared the cursor's key
            next_cursor = paging.Cursor(version, values, ties, query).encode()
        if masked:
            frame = null_personal(frame)
        return Page(frame.select(shown), version, next_cursor)

    def _read(self, delta, table, key, needed, where, after, skip, want, request) -> pl.DataFrame:
        scan = pl.scan_delta(delta, storage_options=self.lakehouse.storage_options())
        order = dict(by=list(key), nulls_last=False, maintain_order=True) if key else None

        def read(frame: pl.LazyFrame, rows: int) -> pl.DataFrame:
            frame = frame.filter(where).select(needed)
            if order:
                frame = frame.sort(**order)
            return frame.head(rows).collect()

        months = sorted(p[MONTH_COLUMN] for p in delta.partitions()) if table.date_column and self._by_month(delta) else None
        if months is None:
            return read(scan, skip + want).slice(skip)
        first = after[0] if after else request.date_from
        last = request.date_to
        parts, have = [], 0
        for month in months:
            start = date.fromisoformat(month)
            if first and start < first.replace(day=1) or last and start > last:
                continue
            rows = (skip if not parts else 0) + want - have
            part = read(scan.filter(pl.col(MONTH_COLUMN) == start), rows)
            if not parts:
                part = part.slice(skip)
            parts.append(part)
            have += part.height
            if have >= want:
                break
        if not parts:
            return pl.DataFrame(schema={c: table.schema.get(c, pl.String) for c in needed})
        return pl.concat(parts, how="vertical_relaxed")

    @staticmethod
    def _by_month(delta: DeltaTable) -> bool:
        return MONTH_COLUMN in delta.metadata().partition_columns

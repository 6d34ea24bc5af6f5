"""What the API tells about the tables: each one's version, rows, size and last update (from its Delta log, no
data read), and the quality figures (quarantined rows by reason, duplicates dropped, scores) read from the
small tables that hold them. Each answer is kept until a table it depends on gets a new version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl
from deltalake import DeltaTable

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.tables import Table


@dataclass(frozen=True)
class TableFacts:
    table: Table
    version: int
    rows: int
    bytes: int
    updated_at: datetime  # the last commit's time, UTC


def _commit_time(delta: DeltaTable, version: int) -> datetime:
    """When ``version`` was committed. ``history(1)`` called while other threads read the table answered, now
    and then, every commit with made-up negative versions too (deltalake 1.x; 261 of about 34,000 calls,
    measured, also on handles of their own): the entry of ``version`` is picked out, and without one the
    newest file's modification time stands in."""
    entry = next((e for e in delta.history(1) if e.get("version") == version and "timestamp" in e), None)
    if entry is not None:
        millis = entry["timestamp"]
    else:
        actions = pl.DataFrame(delta.get_add_actions(flatten=True))
        millis = actions["modification_time"].cast(pl.Int64).max() if actions.height else 0
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


class Facts:
    """Facts of the tables of ``lakehouse``; ``latest(table)`` gives a (shared, read-only) handle at its
    latest version."""

    def __init__(self, lakehouse: Lakehouse, latest: Callable[[Table], DeltaTable]):
        self._lakehouse, self._latest = lakehouse, latest
        self._lock = threading.Lock()
        self._facts: dict[tuple[str, int], TableFacts] = {}
        self._quality: tuple[tuple, dict] | None = None

    def table(self, table: Table) -> TableFacts | None:
        if not self._lakehouse.exists(table.path):
            return None
        delta = self._latest(table)
        version = delta.version()
        with self._lock:
            known = self._facts.get((table.path, version))
        if known is not None:
            return known
        rows, stored = self._lakehouse.size(table.path, delta)
        facts = TableFacts(table, version, rows, stored, _commit_time(delta, version))
        with self._lock:
            self._facts[(table.path, version)] = facts
        return facts

    def all(self) -> list[TableFacts]:
        return [facts for table in tables.TABLES if (facts := self.table(table)) is not None]

    def quality(self, scan: Callable[[Table, int], pl.LazyFrame]) -> dict:
        """Quarantined rows by reason, duplicates dropped and data-quality scores (mean over the days of
        ``gold/dq_scorecard`` per table, and the latest day's), at the tables' current versions."""
        sources = (tables.QUARANTINE, tables.PARTITION_STATS, tables.DQ_SCORECARD)
        facts = {t.path: self.table(t) for t in sources}
        versions = tuple((path, f.version if f else None) for path, f in facts.items())
        with self._lock:
            if self._quality and self._quality[0] == versions:
                return self._quality[1]
        by_reason: dict[str, int] = {}
        if facts[tables.QUARANTINE.path]:
            grouped = scan(tables.QUARANTINE, facts[tables.QUARANTINE.path].version).group_by("reason_code").len().collect()
            by_reason = dict(sorted(zip(grouped["reason_code"].to_list(), grouped["len"].to_list())))
        duplicates = 0
        if facts[tables.PARTITION_STATS.path]:
            stats = scan(tables.PARTITION_STATS, facts[tables.PARTITION_STATS.path].version)
            duplicates = int(stats.select(pl.col("duplicates_dropped").sum()).collect().item() or 0)
        scores: dict[str, dict] = {}
        if facts[tables.DQ_SCORECARD.path]:
            card = scan(tables.DQ_SCORECARD, facts[tables.DQ_SCORECARD.path].version).filter(pl.col("score").is_not_null())
            summary = (
                card.sort("business_date")
                .group_by("table")
                .agg(
                    pl.col("score").mean().alias("mean_score"),
                    pl.col("business_date").last().alias("latest_date"),
                    pl.col("score").last().alias("latest_score"),
                )
                .sort("table")
                .collect()
            )
            scores = {
                row["table"].replace("/", "."): {
                    "mean_score": row["mean_score"],
                    "latest_date": row["latest_date"].isoformat(),
                    "latest_score": row["latest_score"],
                }
                for row in summary.iter_rows(named=True)
            }
        answer = {
            "quarantined_rows": sum(by_reason.values()),
            "quarantined_by_reason": by_reason,
            "duplicates_dropped": duplicates,
            "quality_scores": scores,
        }
        with self._lock:
            self._quality = (versions, answer)
        return answer

"""What to run, from the lakehouse's state: pure functions shared by ``retail-pipeline run``, ``backfill`` and
the landing sensor.

- which landing files have settled (looked the same on two consecutive sensor ticks);
- which business dates are stale: bronze does not hold exactly the active files' versions, or silver's
  figures do not count what bronze holds;
- how dates are grouped into single-run ranges, and a run key that is stable for the same work.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

# Dates closer than this are run together: rebuilding the empty or unchanged days between them costs less
# than a run of its own (a weekend between two day files should not split a batch in two).
MAX_GAP_DAYS = 7


@dataclass
class LandingCursor:
    """What the sensor saw at its last tick (path -> [size, mtime in microseconds]) and the digest of the
    listing it last landed; JSON in Dagster's cursor storage, so it survives restarts."""

    seen: dict[str, list[int]] = field(default_factory=dict)
    landed: str = ""

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(seen=data.get("seen", {}), landed=data.get("landed", ""))

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "landed": self.landed}, sort_keys=True, separators=(",", ":"))


def observe(listing: pl.DataFrame) -> dict[str, list[int]]:
    """path -> [size, mtime in µs] of a landing listing."""
    rows = listing.select("path", "size_bytes", pl.col("mtime").dt.epoch("us"))
    return {path: [size, mtime] for path, size, mtime in rows.iter_rows()}


def listing_digest(seen: dict[str, list[int]]) -> str:
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()


def settled_listing(listing: pl.DataFrame, previous_seen: dict[str, list[int]], manifest: pl.DataFrame) -> pl.DataFrame:
    """The listing to land now: files that look as they did at the last tick. A file still changing is left
    out, or, if an older version of it was landed, stands as that version until it settles (so it is not
    reported missing meanwhile)."""
    seen = observe(listing)
    settled = [p for p, stat in seen.items() if previous_seen.get(p) == stat]
    unsettled = [p for p in seen if p not in set(settled)]
    kept = manifest.filter(pl.col("path").is_in(unsettled) & (pl.col("status") != "missing")).select(listing.columns)
    return pl.concat([listing.filter(pl.col("path").is_in(settled)), kept]).sort("path")


def stale_dates(manifest: pl.DataFrame, bronze_files: pl.DataFrame, start: date, end: date) -> list[date]:
    """Business dates in ``[start, end)`` where bronze does not hold exactly the active files' versions:
    new files, changed files (old and new dates), files that stopped being active, and dates where bronze
    still holds rows of a customer in the erasure register (``bronze_files``' ``erased_customer_rows``). A
    file now ``missing`` calls for nothing by itself (DESIGN.md: a deletion rebuilds nothing). Records left
    out for erasure are accounted for by ``bronze/erased_rows``, so a date whose records were all erased is
    not stale."""
    expected = (
        manifest.lazy()
        .filter(pl.col("status") == "active")
        .select(
            pl.col("path").alias("_source_file"),
            pl.col("sha256").alias("_file_sha256"),
            pl.col("business_dates").alias("_partition_date"),
        )
        .explode("_partition_date")
        .filter(pl.col("_partition_date").is_between(start, end, closed="left"))
    )
    missing = manifest.lazy().filter(pl.col("status") == "missing").select(pl.col("path").alias("_source_file"))
    actual = bronze_files.lazy().select("_source_file", "_file_sha256", "_partition_date").join(
        missing, on="_source_file", how="anti"
    )
    keys = ["_source_file", "_file_sha256", "_partition_date"]
    differ = [expected.join(actual, on=keys, how="anti"), actual.join(expected, on=keys, how="anti")]
    if "erased_customer_rows" in bronze_files.columns:
        # Bronze still holds rows of a customer registered since: rebuilding the date leaves them out.
        differ.append(bronze_files.lazy().filter(pl.col("erased_customer_rows") > 0).select(*keys))
    differ = pl.concat(differ)
    return differ.select("_partition_date").unique().sort("_partition_date").collect().to_series().to_list()


def group_ranges(dates: list[date], max_gap_days: int = MAX_GAP_DAYS, max_len: int = 366) -> list[tuple[date, date]]:
    """Inclusive ranges covering ``dates`` (sorted): dates at most ``max_gap_days`` apart share a range, and
    no range is longer than ``max_len`` days."""
    ranges: list[tuple[date, date]] = []
    for day in dates:
        if ranges and (day - ranges[-1][1]).days <= max_gap_days and (day - ranges[-1][0]).days < max_len:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_run_key(first: date, last: date, manifest: pl.DataFrame) -> str:
    """Stable for the same range and file versions, so a tick that sees the same work again (while the first
    run is still queued) does not request it twice; new versions of the files give a new key."""
    files = (
        manifest.filter(pl.col("status") == "active")
        .filter(pl.col("business_dates").list.eval(pl.element().is_between(first, last)).list.any())
        .select(pl.format("{}:{}", "path", "sha256"))
        .to_series()
        .sort()
        .to_list()
    )
    return f"{first}..{last}@{hashlib.sha256('|'.join(files).encode()).hexdigest()[:16]}"


def dates_to_run(
    manifest: pl.DataFrame, bronze: pl.DataFrame, finished: pl.DataFrame, start: date, end: date, full: bool = False
) -> list[date]:
    """Business dates whose partitions must be (re)built.

    Incremental (the default): the dates where bronze does not hold exactly the active files' versions (new,
    changed, late files; see ``automation.stale_dates``), plus the dates bronze holds whose silver figures
    (``silver/partition_stats``: ``finished`` has ``business_date`` and ``bronze_rows``) are missing or
    count other rows, so a run that died between layers is completed. ``full``: also every placeable date of
    an active file, and every date bronze still holds for files present in the landing zone.
    """
    dates = set(stale_dates(manifest, bronze, start, end))
    counts = bronze.group_by("_partition_date").agg(pl.col("rows").sum().alias("bronze_rows"))
    unfinished = counts.join(
        finished.select(pl.col("business_date").alias("_partition_date"), "bronze_rows"),
        on=["_partition_date", "bronze_rows"],
        how="anti",
    )
    dates |= set(unfinished["_partition_date"].to_list())
    if full:
        active = manifest.filter(pl.col("status") == "active")
        dates |= {
            d for d in active.select(pl.col("business_dates").explode()).drop_nulls().to_series().to_list()
            if start <= d < end
        }
        present = manifest.filter(pl.col("status") != "missing")["path"]
        dates |= set(bronze.filter(pl.col("_source_file").is_in(present.implode()))["_partition_date"].to_list())
    return sorted(dates)


def chunks(first: date, last: date, size: int) -> list[tuple[date, date]]:
    """[first, last] cut into inclusive ranges of at most ``size`` days."""
    if size < 1:
        raise ValueError("the chunk size must be at least 1 partition")
    out = []
    while first <= last:
        end = min(last, first + timedelta(days=size - 1))
        out.append((first, end))
        first = end + timedelta(days=1)
    return out

"""What to run, from the lakehouse's state: the one planner of ``retail-pipeline run``, ``backfill``, the
landing sensor and the nightly schedule (``plan``), and the pure functions it is made of.

- which landing files have settled (looked the same on two consecutive sensor ticks);
- which business dates of which daily tables are behind: bronze does not hold exactly the active files'
  versions, or a daily table was not built from what bronze now holds for the date (``core/build_state.py``);
- which whole-history outputs (marts, warehouse, report) are behind: what they read has moved since;
- what a failed blocking check holds back;
- how dates are grouped into single-run ranges, and a run key that is stable for the same work.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from retail_pipeline.core import build_state
from retail_pipeline.core.build_state import EMPTY, FAILED
from retail_pipeline.core.manifest import files_to_probe

# Dates closer than this are run together: rebuilding the empty or unchanged days between them costs less
# than a run of its own (a weekend between two day files should not split a batch in two).
MAX_GAP_DAYS = 7


# A failed request is asked again after the backoff, doubled per attempt, at most this long.
MAX_BACKOFF_S = 6 * 3600


@dataclass
class LandingCursor:
    """What the sensor saw at its last tick (path -> [size, mtime, inode, ctime]) and the work it requested
    (request key -> [attempt, requested at, epoch seconds]); JSON in Dagster's cursor storage, so it survives
    restarts."""

    seen: dict[str, list[int]] = field(default_factory=dict)
    requests: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(seen=data.get("seen", {}), requests=data.get("requests", {}))

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "requests": self.requests}, sort_keys=True, separators=(",", ":"))


def run_key(key: str, attempt: int) -> str:
    return f"{key}#{attempt}"


def next_attempt(previous: list[float] | None, last_status: str | None, now: float, backoff_s: float) -> int | None:
    """Whether to request work ``key`` now, and as which attempt: the first time at once; again only once its
    last run has finished (failed, or done without the work getting done) or never appeared, and the backoff
    has passed
    (``backoff_s`` doubled per attempt, at most ``MAX_BACKOFF_S``). None: not now."""
    if previous is None:
        return 0
    attempt, requested_at = int(previous[0]), previous[1]
    if last_status not in ("FAILURE", "CANCELED", "SUCCESS", None):
        return None  # still queued or running
    # None: asked for, but no such run (not created yet, or deleted since): after the backoff, ask again.
    if now - requested_at < min(MAX_BACKOFF_S, backoff_s * 2**attempt):
        return None
    return attempt + 1


def landing_needed(settled: pl.DataFrame, manifest: pl.DataFrame, changed_sources: dict[str, str] | None = None) -> list[str]:
    """Paths the landing step must look at: settled files new or changed (by their stats) since the
    manifest or found changed by bronze (``changed_sources``), and files the manifest holds that are gone.
    Stats only: no file is read."""
    changed = files_to_probe(settled, manifest, changed_sources)
    present = manifest.filter(pl.col("status") != "missing")["path"]
    gone = sorted(set(present.to_list()) - set(settled["path"].to_list()))
    return sorted(set(changed) | set(gone))


def observe(listing: pl.DataFrame) -> dict[str, list[int]]:
    """path -> [size, mtime in µs, inode, ctime in µs] of a landing listing."""
    rows = listing.select("path", "size_bytes", pl.col("mtime").dt.epoch("us"), "inode", pl.col("ctime").dt.epoch("us"))
    return {path: list(stat) for path, *stat in rows.iter_rows()}


def listing_digest(seen: dict[str, list[int]]) -> str:
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()


def range_state_digest(state: pl.DataFrame, first: date, last: date) -> str:
    """A digest of the build state of the daily tables over ``[first, last]``: it moves when a run (even one
    that died) built part of the range, so the rest is asked for at once, not after a backoff."""
    rows = (
        state.filter(pl.col("business_date").is_between(first, last))
        .select(pl.format("{}|{}|{}", "table", "business_date", "built_from"))
        .to_series()
        .sort()
        .to_list()
    )
    return build_state.digest(rows)[:12]


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
    differ = pl.concat([expected.join(actual, on=keys, how="anti"), actual.join(expected, on=keys, how="anti")])
    # A file version whose dates differ from what bronze holds is rebuilt on all of them, old and new: a
    # record out of range is stored in its file's earliest date, and leaves it once its own date is in range.
    versions = differ.select("_source_file", "_file_sha256").unique()
    every = pl.concat([expected, actual]).join(versions, on=["_source_file", "_file_sha256"], how="semi")
    stale = [differ.select("_partition_date"), every.select("_partition_date")]
    if "erased_customer_rows" in bronze_files.columns:
        # Bronze still holds rows of a customer registered since: rebuilding the date leaves them out.
        stale.append(bronze_files.lazy().filter(pl.col("erased_customer_rows") > 0).select("_partition_date"))
    return pl.concat(stale).unique().sort("_partition_date").collect().to_series().to_list()


def group_ranges(
    dates: list[date],
    max_gap_days: int = MAX_GAP_DAYS,
    max_len: int = 366,
    rows: Mapping[date, int] | None = None,
    max_rows: int | None = None,
) -> list[tuple[date, date]]:
    """Inclusive ranges covering ``dates`` (sorted): dates at most ``max_gap_days`` apart share a range, no
    range is longer than ``max_len`` days, and none holds more than ``max_rows`` of ``rows`` (rows per date)
    unless a single date does: what a run holds in memory follows its rows, not its days. A range split for
    its rows is split into parts of about equal rows (not full runs and a last one of a day)."""
    spans: list[list[date]] = []
    for day in dates:
        if spans and (day - spans[-1][-1]).days <= max_gap_days and (day - spans[-1][0]).days < max_len:
            spans[-1].append(day)
        else:
            spans.append([day])
    ranges: list[tuple[date, date]] = []
    for span in spans:
        ranges += _by_rows(span, rows or {}, max_rows)
    return ranges


def _by_rows(span: list[date], rows: Mapping[date, int], max_rows: int | None) -> list[tuple[date, date]]:
    """``span`` in parts of at most ``max_rows`` (a day above it alone), filled in order; a last part much
    smaller than the one before is evened out with it, so a year split for its rows does not end in a run
    of a single day."""
    parts: list[list[date]] = []
    held = 0
    for day in span:
        here = rows.get(day, 0)
        if parts and (max_rows is None or held + here <= max_rows):
            parts[-1].append(day)
            held += here
        else:
            parts.append([day])
            held = here
    size = lambda part: sum(rows.get(day, 0) for day in part)  # noqa: E731
    if len(parts) > 1 and size(parts[-1]) * 2 < size(parts[-2]):
        merged = parts.pop(-2) + parts.pop(-1)
        half, running, cut = size(merged) / 2, 0, 1
        for i, day in enumerate(merged[:-1], start=1):
            running += rows.get(day, 0)
            cut = i
            if running >= half:
                break
        parts += [merged[:cut], merged[cut:]]
    return [(part[0], part[-1]) for part in parts]


def rows_by_date(manifest: pl.DataFrame) -> dict[date, int]:
    """An estimate of the rows each business date holds: each active file's rows spread evenly over its
    dates (the manifest counts rows per file, not per date), summed over files."""
    active = manifest.filter((pl.col("status") == "active") & (pl.col("business_dates").list.len() > 0))
    spread = active.select(
        pl.col("business_dates").alias("day"), (pl.col("rows") / pl.col("business_dates").list.len()).alias("rows")
    ).explode("day")
    totals = spread.group_by("day").agg(pl.col("rows").sum().ceil().cast(pl.Int64))
    return dict(totals.iter_rows())


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


@dataclass(frozen=True)
class Plan:
    """What must run for the lakehouse to be up to date."""

    behind: dict[str, list[date]]  # daily table -> its business dates to rebuild
    history: list[str]  # whole-history outputs to rebuild (marts, warehouse, report)
    blocked: dict[str, list[date]]  # "table: check" -> the dates (empty list: the whole table) a failed
    # blocking check holds back; they are in ``behind``/``history`` too, and stay there until it passes
    rows: dict[date, int] = field(default_factory=dict)  # estimated rows per business date (``rows_by_date``)

    @property
    def dates(self) -> list[date]:
        """Every business date some daily table must rebuild (a range run rebuilds every daily layer)."""
        return sorted({day for days in self.behind.values() for day in days})

    @property
    def up_to_date(self) -> bool:
        return not self.dates and not self.history and not self.blocked

    def ranges(self, max_len: int = 366, max_rows: int | None = None) -> list[tuple[date, date]]:
        return group_ranges(self.dates, MAX_GAP_DAYS, max_len, self.rows, max_rows)

    def layers_behind(self) -> list[str]:
        return sorted(table for table, days in self.behind.items() if days)


def plan(
    manifest: pl.DataFrame,
    bronze: pl.DataFrame,
    state: pl.DataFrame,
    start: date,
    end: date,
    daily_tables: list[str],
    history_outputs: list[str],
    full: bool = False,
    also: list[date] | tuple = (),
) -> Plan:
    """The one planner. ``manifest``: the landed files; ``bronze``: what bronze holds (``bronze_files``:
    file, sha256, business date, rows); ``state``: the build state (``build_state.latest``).

    A daily table is behind on a date when its build state for the date is not the token of what bronze
    holds (``build_state.date_tokens``), or, for bronze, when bronze does not hold exactly the active files'
    versions (``stale_dates``). A whole-history output is behind when it has no build state, a blocking check
    of it failed, or the tables it read have moved. ``full`` rebuilds every date with data; ``also`` adds
    dates."""
    bronze_paths = [t for t in daily_tables if t.startswith("bronze/")]
    counts = bronze.lazy().select(
        pl.col("_partition_date").alias("business_date"), "_source_file", "_file_sha256", "rows"
    )
    tokens = build_state.tokens_from_counts(counts)
    daily_state = state.filter(pl.col("table").is_in(daily_tables) & pl.col("business_date").is_not_null())
    universe = (
        pl.concat([tokens.select("business_date"), daily_state.select("business_date")])
        .unique()
        .filter(pl.col("business_date").is_between(start, end, closed="left"))
    )
    grid = universe.join(pl.DataFrame({"table": daily_tables}), how="cross")
    compared = (
        grid.join(daily_state.select("table", "business_date", "built_from"), on=["table", "business_date"], how="left")
        .join(tokens, on="business_date", how="left")
        .with_columns(pl.col("built_from").fill_null(EMPTY), pl.col("token").fill_null(EMPTY))
        .filter(pl.col("built_from") != pl.col("token"))
    )
    behind: dict[str, set[date]] = {table: set() for table in daily_tables}
    for table, days in compared.group_by("table").agg("business_date").iter_rows():
        behind[table] |= set(days)
    extra = set(stale_dates(manifest, bronze, start, end)) | {d for d in also if start <= d < end}
    if full:
        extra |= set(_every_date_with_data(manifest, bronze, start, end))
    for table in bronze_paths:
        behind[table] |= extra
    if extra and not bronze_paths:
        for table in daily_tables:
            behind[table] |= extra

    blocked: dict[str, list[date]] = {}
    failed = state.filter(pl.col("built_from").str.starts_with(FAILED))
    for table, check, days in (
        failed.with_columns(pl.col("built_from").str.strip_prefix(FAILED).alias("check"))
        .group_by("table", "check")
        .agg(pl.col("business_date").drop_nulls().sort())
        .sort("table", "check")
        .iter_rows()
    ):
        blocked[f"{table}: {check}"] = [d for d in days if start <= d < end]

    history = []
    whole = state.filter(pl.col("business_date").is_null())
    built_any = daily_state.filter(pl.col("built_from") != EMPTY).height > 0
    for output in history_outputs:
        row = whole.filter(pl.col("table") == output)
        if row.height == 0:
            if built_any:  # nothing to build it from before any daily table holds data
                history.append(output)
            continue
        built_from, inputs = row["built_from"][-1], row["inputs"][-1].to_list()
        # Failed, not yet vouched for by its checks (pending), or built from what has moved since.
        if built_from != build_state.inputs_token(state, inputs):
            history.append(output)
    return Plan({t: sorted(d) for t, d in behind.items()}, history, blocked, rows_by_date(manifest))


def _every_date_with_data(manifest: pl.DataFrame, bronze: pl.DataFrame, start: date, end: date) -> list[date]:
    """Every placeable date of an active or deleted (``missing``) file, and every date bronze holds
    (``run --full``): a date only a deleted file held is rebuilt too, which takes its rows out."""
    landed = manifest.filter(pl.col("status").is_in(["active", "missing"]))
    dates = set(landed.select(pl.col("business_dates").explode()).drop_nulls().to_series().to_list())
    dates |= set(bronze["_partition_date"].drop_nulls().to_list())
    return sorted(d for d in dates if start <= d < end)


def missing_files_held(manifest: pl.DataFrame, bronze: pl.DataFrame) -> pl.DataFrame:
    """Per deleted (``missing``) file: the rows bronze still holds of it and their first and last date (0 rows
    and null dates once they are out)."""
    missing = manifest.filter(pl.col("status") == "missing").select(pl.col("path").alias("_source_file"))
    held = (
        bronze.filter(pl.col("rows") > 0)
        .group_by("_source_file")
        .agg(pl.col("rows").sum(), pl.col("_partition_date").min().alias("first"), pl.col("_partition_date").max().alias("last"))
    )
    return (
        missing.join(held, on="_source_file", how="left")
        .with_columns(pl.col("rows").fill_null(0))
        .rename({"_source_file": "path"})
        .sort("path")
    )

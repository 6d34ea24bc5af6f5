"""Incremental operation without a person: the landing sensor, the nightly schedule, and the automation that
keeps whole-history marts current.

- **Landing sensor** (on by default): each tick lists the landing zone (names, sizes, mtimes only). A file is
  landed once it looked the same on two consecutive ticks, so a file still being written waits; temporary
  names (``*.tmp``, ``*.part``, ...) are never landed. Landing writes the manifest (``bronze/landed_files``,
  the code ``retail-pipeline run`` uses too), then the sensor compares the manifest with what bronze holds
  and requests runs for exactly the business dates that differ, grouped into ranges (one run per range, not
  per day). A file that disappears is marked ``missing`` and reported; it requests nothing.
- **Nightly schedule** (off by default): at ``RETAIL_SCHEDULE_TIME`` (02:00 Europe/London) it lands and
  materialises the previous day's partitions.
- **Whole-history marts** (``gold/monthly_kpis``) carry :data:`HISTORY_MART_CONDITION` and an automation
  sensor (on by default) requests them once after a batch of daily partitions lands.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from retail_pipeline.contracts import LANDED_FILES
from retail_pipeline.erasure import ERASED_ROWS_TABLE, is_erased, registered
from retail_pipeline.lakehouse import Lakehouse
from retail_pipeline.landing import LandingZone, files_to_probe, resolve_manifest, upgrade_manifest
from retail_pipeline.partitions import TIMEZONE, partition_bounds
from retail_pipeline.schemas import empty

AC = dg.AutomationCondition

# Fires once per batch of updated parent partitions, and not while any parent is still being written. The
# stock eager() never fires below daily partitions from 2010 to today (it waits for no missing parent).
HISTORY_MART_CONDITION = AC.any_deps_updated().since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()

INCREMENTAL_JOB = "incremental_job"
NIGHTLY_JOB = "nightly_job"
MANIFEST = "bronze/landed_files"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# Dates closer than this are run together: rebuilding the empty or unchanged days between them costs less
# than a run of its own (a weekend between two day files should not split a batch in two).
MAX_GAP_DAYS = 7


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r} must be a positive whole number")
    return int(raw)


def max_partitions_per_run() -> int:
    """The longest range one run covers (``RETAIL_MAX_PARTITIONS_PER_RUN``): it bounds a run's memory."""
    return _env_int("RETAIL_MAX_PARTITIONS_PER_RUN", 366)


# --- pure planning ---------------------------------------------------------------------------------------


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


def bronze_files(lakehouse: Lakehouse) -> pl.DataFrame:
    """(file, sha256, business date, rows) of what bronze holds, with ``erased_customer_rows``: the rows of
    customers in the erasure register that bronze still holds (it must hold none). A file version whose
    records of a date were all left out for erasure (``bronze/erased_rows``) counts as held, with 0 rows."""
    keys = {"_source_file": pl.String, "_file_sha256": pl.String, "_partition_date": pl.Date}
    counts = {"rows": pl.Int64, "erased_customer_rows": pl.Int64}
    parts = [pl.LazyFrame(schema={**keys, **counts})]
    if lakehouse.exists("bronze/transactions"):
        ids = registered(lakehouse)
        # Without a register, the customer columns are not read at all.
        erased = is_erased(ids).sum() if ids.len() else pl.lit(0)
        parts.append(
            lakehouse.scan("bronze/transactions")
            .group_by(*keys)
            .agg(pl.len().cast(pl.Int64).alias("rows"), erased.cast(pl.Int64).alias("erased_customer_rows"))
        )
    if lakehouse.exists(ERASED_ROWS_TABLE):
        parts.append(
            lakehouse.scan(ERASED_ROWS_TABLE)
            .select(*keys)
            .unique()
            .with_columns(pl.lit(0, pl.Int64).alias("rows"), pl.lit(0, pl.Int64).alias("erased_customer_rows"))
        )
    return pl.concat(parts).group_by(*keys).agg(pl.col(*counts).sum()).collect()


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


# --- the sensor ---------------------------------------------------------------------------------------------


def evaluate_landing(
    cursor_text: str | None, landing: LandingZone, lakehouse: Lakehouse, log, now: datetime | None = None
) -> dg.SensorResult:
    """One tick of the landing sensor (see the module docstring); pure of Dagster context for testing."""
    cursor = LandingCursor.parse(cursor_text)
    listing = landing.list_files()
    seen = observe(listing)
    # Nothing moved since the last tick, and that listing was landed: the cheap, common case.
    if seen == cursor.seen and listing_digest(seen) == cursor.landed:
        return dg.SensorResult(skip_reason=f"nothing new in {len(seen)} file(s)", cursor=cursor.dump())

    previous = upgrade_manifest(lakehouse.read(MANIFEST)) if lakehouse.exists(MANIFEST) else empty(LANDED_FILES)
    settled = settled_listing(listing, cursor.seen, previous)
    waiting = sorted(p for p, stat in seen.items() if cursor.seen.get(p) != stat)
    first_seen = sum(1 for p in waiting if p not in cursor.seen)
    start, end = partition_bounds()
    probes = landing.probe(files_to_probe(settled, previous))
    manifest = resolve_manifest(settled, previous, probes, now or datetime.now(timezone.utc), start, end)

    events = []
    if not manifest.equals(previous.sort("path")):  # Delta does not keep row order; the manifest is by path
        result = lakehouse.write(MANIFEST, manifest)
        counts = dict(manifest.group_by("status").len().iter_rows())
        for path, reason in manifest.filter(pl.col("status") == "rejected").select("path", "reason").iter_rows():
            log.warning(f"rejected {path}: {reason}")
        newly_missing = manifest.filter(pl.col("status") == "missing").join(
            previous.filter(pl.col("status") == "missing"), on="path", how="anti"
        )
        for path in newly_missing["path"]:
            log.warning(f"missing {path}: landed before, no longer in the landing zone (nothing is rebuilt for it)")
        events.append(
            dg.AssetMaterialization(
                asset_key=["bronze", "landed_files"],
                metadata={
                    "landed_by": "landing_sensor",
                    "delta_version": result.version,
                    **{f"files_{s}": counts.get(s, 0) for s in ("active", "duplicate", "missing", "rejected")},
                },
            )
        )

    dates = stale_dates(manifest, bronze_files(lakehouse), start, end)
    requests = [
        dg.RunRequest(
            run_key=range_run_key(first, last, manifest),
            tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        )
        for first, last in group_ranges(dates, MAX_GAP_DAYS, max_partitions_per_run())
    ]
    # The listing counts as landed only once nothing waits: a waiting file must be looked at again.
    landed = listing_digest(seen) if not waiting else cursor.landed
    new_cursor = LandingCursor(seen=seen, landed=landed).dump()
    # A file is landed on the tick after it was first seen, if it has not changed in between.
    pending = (
        f"{first_seen} file(s) seen for the first time, {len(waiting) - first_seen} still changing: "
        "landed at the next tick if unchanged"
    )
    if waiting:
        log.info(f"{pending} ({', '.join(waiting[:5])}{', ...' if len(waiting) > 5 else ''})")
    if not requests:
        reason = f"no business date to rebuild yet ({pending})" if waiting else "no business date to rebuild"
        return dg.SensorResult(skip_reason=reason, cursor=new_cursor, asset_events=events)
    return dg.SensorResult(run_requests=requests, cursor=new_cursor, asset_events=events)


def landing_interval_seconds() -> int:
    return _env_int("RETAIL_LANDING_SENSOR_INTERVAL_S", 30)


@dg.sensor(
    name="landing_sensor",
    job_name=INCREMENTAL_JOB,
    minimum_interval_seconds=landing_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lands new or changed files of the landing zone and runs exactly the business dates they touch.",
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZone, lakehouse: Lakehouse) -> dg.SensorResult:
    return evaluate_landing(context.cursor, landing, lakehouse, context.log)


# --- the nightly schedule --------------------------------------------------------------------------------


def schedule_cron() -> str:
    """``RETAIL_SCHEDULE_TIME`` (HH:MM, Europe/London, default 02:00) as a daily cron expression."""
    raw = os.environ.get("RETAIL_SCHEDULE_TIME", "02:00").strip()
    try:
        moment = datetime.strptime(raw, "%H:%M")
    except ValueError:
        raise ValueError(f"RETAIL_SCHEDULE_TIME={raw!r} must be a time like 02:00") from None
    return f"{moment.minute} {moment.hour} * * *"


@dg.schedule(
    name="nightly_schedule",
    job_name=NIGHTLY_JOB,
    cron_schedule=schedule_cron(),
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every night: land the landing zone and materialise the previous day's partitions.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)
    return dg.RunRequest(run_key=f"nightly-{day}", partition_key=day.isoformat())


history_marts_sensor = dg.AutomationConditionSensorDefinition(
    "history_marts_sensor",
    # Every asset with an automation condition: the whole-history marts, the warehouse and the report.
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes the whole-history marts once after new daily partitions land.",
)

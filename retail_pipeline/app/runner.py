"""``retail-pipeline run`` and ``retail-pipeline backfill``: land what is in the landing zone, then materialise
through Dagster (the same definitions the UI loads).

``run``: ``landing_job`` writes the manifest and the reference data; then the planner (``core/planning.py``,
the one the sensor and the schedule call) decides what is behind: the business dates whose files changed or
whose daily layers were not all built from them (every date with data with ``--full``). They run as
single-run ranges (``partitions_job``) of at most ``RETAIL_MAX_PARTITIONS_PER_RUN`` days, then the
whole-history outputs that are behind (``history_job``). ``backfill``: the same, with a given range forced,
in chunks. "Up to date" is said only when the planner finds nothing behind after the runs.
"""

import atexit
import gc
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from retail_pipeline.adapters.build_state import confirm_runs
from retail_pipeline.adapters.lakehouse import SCHEMA_VERSION, Lakehouse
from retail_pipeline.adapters.lakehouse_state import bronze_files, current_plan, read_manifest
from retail_pipeline.core import tables
from retail_pipeline.core.dates import Window
from retail_pipeline.core.errors import root_cause
from retail_pipeline.core.planning import Plan, group_ranges, missing_files_held
from retail_pipeline.core.text_table import text_table
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.jobs import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    history_job,
    history_selection,
    landing_job,
    partitions_job,
)
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.resources import build_resources
from retail_pipeline.settings import Settings, dagster_home

# Dagster's console lines (events, and stack traces on failure) would bury the progress: the runner prints
# what failed itself, and the full log stays in the run's page in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class RunFailed(RuntimeError):
    """A Dagster run of the pipeline failed; the message says which step and why."""


@dataclass
class StepTiming:
    step: str
    seconds: float


@dataclass
class RunReport:
    job: str
    run_id: str
    seconds: float
    steps: list[StepTiming] = field(default_factory=list)
    # The metadata of each unpartitioned asset the run materialised, by table ("bronze/fx_rates").
    metadata: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def step_seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


@dataclass
class PipelineReport:
    runs: list[RunReport]
    partitions: tuple[date, date] | None  # inclusive first and last business date run, None if no data
    lakehouse: Lakehouse


def _execute(
    defs: dg.Definitions,
    job: str,
    instance: dg.DagsterInstance,
    tags: dict | None = None,
    selection: list[dg.AssetKey] | None = None,
    house: Lakehouse | None = None,
) -> RunReport:
    """Execute ``job`` in process; ``RunFailed`` names the failed steps. A run that succeeded passed every
    blocking check it ran: its pending build records in ``house``'s log are confirmed."""
    started = time.perf_counter()
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags=tags or {}, run_config=QUIET, raise_on_error=False, asset_selection=selection
    )
    seconds = time.perf_counter() - started
    if not result.success:
        failures = [
            f"{event.step_key}: {root_cause(event.event_specific_data.error)}"
            for event in result.all_events
            if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
        ]
        raise RunFailed(
            f"{job} (run {result.run_id}) failed:\n  "
            + "\n  ".join(failures or ["no step reported an error"])
            + "\nThe full log is on the run's page in the UI (`make dev`)."
        )
    steps = [
        StepTiming(event.step_key, event.event_specific_data.duration_ms / 1000)
        for event in result.all_events
        if event.is_step_success
    ]
    metadata = {
        "/".join(event.asset_key.path): {
            key: value.value for key, value in event.step_materialization_data.materialization.metadata.items()
        }
        for event in result.all_events
        if event.is_step_materialization and event.partition is None
    }
    report = RunReport(job, result.run_id, seconds, steps, metadata)
    if house is not None:
        confirm_runs(house, {result.run_id})
    # execute_in_process keeps every step's output (our collected frames) in the result, inside reference
    # cycles: without a collection here, a CLI that makes 13 runs grew by ~0.4 GiB per run at 10M rows.
    del result
    gc.collect()
    return report


def reference_lines(metadata: dict[str, dict[str, object]]) -> list[str]:
    """Where this run's exchange rates and countries came from, and what an API could not serve."""
    lines = []
    for table, name, variable in (
        ("bronze/fx_rates", "FX rates", "RETAIL_FX_API_URL"),
        ("bronze/countries", "countries", "RETAIL_COUNTRIES_API_URL"),
    ):
        meta = metadata.get(table, {})
        if not meta.get("api_configured"):
            lines.append(f"      {name}: offline bundle (set {variable} to use an API)")
            continue
        sent = meta.get("api_requests_sent", 0)
        line = f"      {name}: API, {sent} request(s) sent, {meta.get('api_payloads_valid', 0)} valid payload(s)"
        if meta.get("fallback_to_bundle"):
            line += f"; {meta.get('api_failures')} failed, the offline bundle stands in:"
            lines += [line, *(f"        {reason.lstrip('- ')}" for reason in str(meta.get("fallback_reasons", "")).splitlines())]
        else:
            lines.append(line + ("" if sent else " (nothing missing)"))
    days = {k.removeprefix("days_from_"): v for k, v in metadata.get("silver/fx_daily", {}).items() if k.startswith("days_from_")}
    if days:
        lines.append("      silver/fx_daily days by source: " + ", ".join(f"{k} {v:,}" for k, v in sorted(days.items())))
    return lines


# Materialisations of a range output stored in batches of this many (Dagster's own switch, read per event):
# a 363-day run stores ~2,900 of them (see adapters/event_log.py). A user's own setting wins.
EVENT_BATCH_SIZE = "500"


def instance_for_cli() -> dg.DagsterInstance:
    """The repo's instance (DAGSTER_HOME), so CLI runs show in the UI; set it up when run from the repo root."""
    home = dagster_home()
    if home and not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = home
    if os.environ.get("DAGSTER_HOME"):
        os.environ.setdefault("DAGSTER_DATA_DIR", str(Path(os.environ["DAGSTER_HOME"]) / "data" / "dagster"))
        Path(os.environ["DAGSTER_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _daily_and_history(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    house: Lakehouse,
    say,
    max_len: int,
    full: bool = False,
    also: Iterable[date] = (),
    history: bool = False,
    marts: bool = True,
    max_rows: int | None = None,
    outputs: tuple[str, ...] = tables.HISTORY_OUTPUTS,
) -> tuple[list[RunReport], tuple[date, date] | None]:
    """Run what the planner says is behind: the daily ranges, then (if none failed) the whole-history outputs
    behind (all of them with ``history``), then plan again; ``RunFailed`` unless everything is up to date."""
    start, end = partition_bounds()
    runs: list[RunReport] = []
    failures: list[str] = []
    work = current_plan(house, start, end, full=full, also=list(also), outputs=outputs)
    if not work.up_to_date:
        say("      behind: " + describe(work))
    ranges = work.ranges(max_len, max_rows)
    for number, (first, last) in enumerate(ranges, start=1):
        days = (last - first).days + 1
        chunk = f", chunk {number}/{len(ranges)}" if len(ranges) > 1 else ""
        say(f"[2/3] bronze -> silver -> gold for {first} .. {last} ({days} daily partitions, one run{chunk}) ...")
        tags = {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
        try:
            runs.append(_execute(defs, partitions_job.name, instance, tags, house=house))
        except RunFailed as exc:
            # The other ranges do not depend on this one: build them, report this one at the end.
            failures.append(str(exc))
            say(f"      failed: {str(exc).splitlines()[0]}")
    if not ranges:
        say("[2/3] every business date is up to date")
    if not marts:
        say("[3/3] whole-history marts left as they were (marts=False)")
    elif failures:
        say("[3/3] whole-history marts not rebuilt: a daily run failed (they would include what it held back)")
    else:
        behind = current_plan(house, start, end, outputs=outputs).history
        if history:
            behind = list(outputs)
        if behind:
            say(f"[3/3] whole-history outputs: {', '.join(behind)} ...")
            try:
                selection = history_selection(behind, outputs)
                runs.append(_execute(defs, history_job.name, instance, selection=selection, house=house))
            except RunFailed as exc:
                failures.append(str(exc))
        else:
            say("[3/3] whole-history marts, warehouse and report are up to date")
    partitions = (ranges[0][0], ranges[-1][1]) if ranges else None
    after = current_plan(house, start, end, outputs=outputs)
    if failures or (marts and not after.up_to_date):
        raise RunFailed("\n".join([*failures, *still_behind(after)]))
    if marts:
        say("      up to date: every daily table, the whole-history marts, the warehouse and the report")
    return runs, partitions


def describe(work: Plan) -> str:
    """One line: which tables are behind on how many dates, and which whole-history outputs."""
    parts = [f"{table} ({len(days)} date{'s' if len(days) != 1 else ''})" for table, days in work.behind.items() if days]
    parts += work.history
    return ", ".join(parts) or "nothing"


def still_behind(work: Plan) -> list[str]:
    """What a run left behind, for the error: the checks that hold dates back, then the rest."""
    lines = []
    for check, days in work.blocked.items():
        where = f"on {_dates(days)}" if days else "(whole table)"
        lines.append(
            f"blocked by a failing check: {check} {where}; every run retries them until the check passes"
        )
    if not work.up_to_date:
        lines.append(f"still behind: {describe(work)} (run `retail-pipeline run` again once the cause is fixed)")
    return lines


def _dates(days: list[date]) -> str:
    ranges = group_ranges(days, 1)
    text = ", ".join(f"{a}" if a == b else f"{a} .. {b}" for a, b in ranges[:5])
    more = f" and {len(ranges) - 5} more ranges" if len(ranges) > 5 else ""
    return f"{text}{more} ({len(days)} date{'s' if len(days) != 1 else ''})"


def _land(defs: dg.Definitions, instance: dg.DagsterInstance, house: Lakehouse, landing_root: str, say) -> RunReport:
    say(f"[1/3] landing files from {landing_root} and refreshing reference data ...")
    report = _execute(defs, landing_job.name, instance, house=house)
    manifest = house.read(tables.MANIFEST.path)
    counts = dict(manifest.group_by("status").len().iter_rows())
    say("      files: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("active", "duplicate", "missing", "rejected")))
    for path, reason in manifest.filter(pl.col("status") == "rejected").select("path", "reason").iter_rows():
        say(f"      rejected {path}: {reason}")
    for line in reference_lines(report.metadata):
        say(line)
    return report


def _start(landing: str | None, lakehouse: str | None, instance: dg.DagsterInstance, say):
    """The settings, lakehouse and definitions of a command, and its landing run (the first of its runs)."""
    # A range run otherwise writes one "planned" event per partition per asset before it starts (16 s of a
    # 46 s run over 374 days, measured). The price: if the run fails, its partitions are not marked failed in
    # the UI; this command reports the failure itself. Set the variable to 0 to get per-partition events.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    settings = Settings.from_env(landing_dir=landing, lakehouse_uri=lakehouse)
    resources = build_resources(settings=settings)
    house: Lakehouse = resources["lakehouse"]
    defs = build_definitions(settings, resources)
    # What the imports and the definitions made lives as long as the process: kept out of the collections
    # after each run, which otherwise walk all of it (0.2 s each, 4 runs, measured). Unfrozen at exit, so
    # that interpreter shutdown finalises it as usual (DuckDB's bindings report leaks otherwise).
    gc.freeze()
    atexit.register(gc.unfreeze)
    return settings, house, defs, [_land(defs, instance, house, resources["landing"].root, say)]


def run_pipeline(
    landing: str | None,
    lakehouse: str | None,
    instance: dg.DagsterInstance,
    say=print,
    full: bool = False,
    also: Iterable[date] = (),
    history: bool = False,
    marts: bool = True,
) -> PipelineReport:
    """Land, then build what the planner says is behind (``core/planning.py``): the business dates whose
    files changed or whose layers were not all built from them (every date with data when ``full``; plus the
    dates ``also`` names), in ranges of at most ``RETAIL_MAX_PARTITIONS_PER_RUN`` days and
    ``RETAIL_MAX_ROWS_PER_RUN`` rows, then the whole-history outputs that are behind (every one with ``history``). ``marts=False`` stops after the daily
    tables. A run that died anywhere is completed by the next call; ``RunFailed`` names what failed and what
    is still behind (a failing blocking check holds its dates back until it passes). ``say`` receives
    progress lines."""
    settings, house, defs, runs = _start(landing, lakehouse, instance, say)
    daily = [t.path for t in tables.DAILY_TABLES]
    outdated = [t for t in daily if house.exists(t) and house.schema_version(t) != SCHEMA_VERSION]
    if house.exists(tables.BRONZE_TRANSACTIONS.path):
        outdated += [t for t in daily if not house.exists(t)]  # a daily table new in this release
    if outdated and not full:
        # A release that evolved or added daily tables: rebuild every date so that old rows get the new
        # columns filled and new tables their history.
        say(f"      {', '.join(outdated)} written by another release or new: rebuilding every date with data")
        full = True
    built, partitions = _daily_and_history(
        defs, instance, house, say, settings.max_partitions_per_run, full=full, also=also, history=history,
        marts=marts, max_rows=settings.max_rows_per_run, outputs=tables.history_outputs(settings.postgres_enabled),
    )
    _say_missing(house, say)
    return PipelineReport(runs + built, partitions, house)


def _say_missing(house: Lakehouse, say, shown: int = 10) -> None:
    """Name each deleted file and the rows bronze still holds of it: they stay until their dates are rebuilt."""
    manifest = read_manifest(house)
    if not manifest.filter(pl.col("status") == "missing").height:
        return
    held = missing_files_held(manifest, bronze_files(house))
    for path, rows, first, last in held.head(shown).iter_rows():
        if rows:
            say(
                f"      missing {path}: {rows:,} rows still in bronze ({first} .. {last}); they leave when those "
                "dates are rebuilt: `retail-pipeline run --full`, or a file landed for them"
            )
        else:
            say(f"      missing {path}: no rows left in bronze")
    if held.height > shown:
        say(f"      ... and {held.height - shown} more missing file(s) (bronze/landed_files, status missing)")


def backfill(
    landing: str | None,
    lakehouse: str | None,
    instance: dg.DagsterInstance,
    first: date,
    last: date,
    chunk: int,
    say=print,
) -> PipelineReport:
    """Land, then rebuild the daily partitions ``first``..``last`` (and anything else behind) in single-run
    chunks of at most ``chunk`` partitions (memory follows the chunk, not the range), then the whole-history
    outputs once."""
    start, end = partition_bounds()
    if first > last:
        raise ValueError(f"--from {first} is after --to {last}")
    if first < start or last >= end:
        raise ValueError(f"the partitions run from {start} to {end - timedelta(days=1)}; {first}..{last} is outside")
    if chunk < 1:
        raise ValueError("the chunk size must be at least 1 partition")
    settings, house, defs, runs = _start(landing, lakehouse, instance, say)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    built, _ = _daily_and_history(
        defs, instance, house, say, chunk, also=days, max_rows=settings.max_rows_per_run,
        outputs=tables.history_outputs(settings.postgres_enabled),
    )
    _say_missing(house, say)
    return PipelineReport(runs + built, (first, last), house)


def summary(report: PipelineReport) -> str:
    """Rows per layer, quarantine by reason, revenue per month, timings, and where to look next."""
    house = report.lakehouse
    lines: list[str] = []
    if report.partitions is not None:
        first, last = report.partitions
        window = Window(first, last + timedelta(days=1))
        stats = house.read(tables.PARTITION_STATS.path, "business_date", window)
        totals = stats.select(
            pl.col("bronze_rows", "silver_rows", "quarantined_rows", "duplicates_dropped").sum()
        ).row(0, named=True)
        lines.append(
            "Rows: bronze {bronze_rows:,} = silver {silver_rows:,} + quarantined {quarantined_rows:,} "
            "+ duplicates dropped {duplicates_dropped:,}".format(**totals)
        )
        erased = (
            house.scan(tables.ERASED_ROWS.path, "_partition_date", window).select(pl.col("rows_erased").sum()).collect().item()
            if house.exists(tables.ERASED_ROWS.path) else 0
        )
        if erased:
            lines.append(
                f"      and {erased:,} landed records not in bronze: their customers are in the erasure register "
                f"({tables.ERASED_CUSTOMERS.path}, see `retail-pipeline forget-customer`)"
            )
        reasons = (
            house.scan(tables.QUARANTINE.path, "_partition_date", window)
            .group_by("reason_code")
            .agg(pl.len().alias("rows"))
            .sort("rows", descending=True)
            .collect()
        )
        if reasons.height:
            lines += ["Quarantined rows by reason:", text_table(reasons)]
        monthly = (
            house.read(tables.MONTHLY_KPIS.path)
            .select("month", "gross_revenue_gbp", "net_revenue_gbp", "gross_revenue_eur", "gross_revenue_usd", "orders")
            .sort("month")
        )
        lines += ["Revenue per month:", text_table(monthly, max_rows=40)]
    for run in report.runs:
        # Step times include Dagster's own work inside a step (one materialisation event per partition).
        outside = run.seconds - run.step_seconds
        lines.append(
            f"{run.job}: {run.seconds:.1f} s (steps {run.step_seconds:.1f} s, outside steps {outside:.1f} s)"
            f"  run {run.run_id}"
        )
        for step in sorted(run.steps, key=lambda s: -s.seconds):
            lines.append(f"    {step.step:<58} {step.seconds:6.1f} s")
    lines.append(f"Tables: {house.uri('')}  (<layer>/<table>, Delta)")
    served = {table: meta for run in report.runs for table, meta in run.metadata.items()}
    if "gold/warehouse" in served:
        meta = served["gold/warehouse"]
        lines.append(
            f"Warehouse: {meta['path']}  (DuckDB, {meta['tables']} gold tables, {meta['size_mib']} MiB; "
            "or `retail-pipeline sql \"SELECT ... FROM monthly_kpis\"`)"
        )
    if "gold/kpi_report" in served:
        lines.append(f"Report: {served['gold/kpi_report']['report']}  (open it in a browser)")
    lines.append("Next: `make dev` and open http://127.0.0.1:3000 to browse the assets and their runs.")
    return "\n".join(lines)

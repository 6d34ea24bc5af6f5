"""``make bench``: how fast the pipeline is, measured, not asserted (pytest does not collect this file).

For each size N it generates N synthetic rows (one file per business day, 2010-12-01 .. 2011-12-09), then
measures, each stage in its own process (wall seconds from the clock, peak RSS from ``wait4``):

1. ``retail-pipeline run`` from an empty lakehouse through Dagster, with the per-step split;
2. one-day incremental ``retail-pipeline run``s, each after one new day file lands: three days (the median
   is quoted), each file the same ``--day-rows`` at every size, so the sizes differ by history alone (the
   partitioned part and the whole-history marts reported apart);
3. the floor: the same transforms and Delta writes with no Dagster runs (``bench_floor.py``, polars +
   deltalake), in the same chunks of days and, up to 2M rows, in one eager pass; the ratio of (1) to each.

Then the ratio of the one-day runs between the largest and the smallest history, and landing-sensor ticks
over 1,000 files with nothing new (median of three). Usage::

    python -m retail_pipeline_tests.bench [--rows 1000000 --rows 10000000] [--chunk 31] [--day-rows 10000] [--keep DIR]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

STEP = re.compile(r"^ {4}(\S+)\s+([\d.]+) s$")
RUN = re.compile(r"^(\w+): ([\d.]+) s \(steps")


@dataclass
class Measured:
    seconds: float
    peak_rss_mib: float
    stdout: str


def measure(cmd: list[str], env: dict, workdir: Path) -> Measured:
    """Run ``cmd`` and return its wall time and its own peak RSS (``wait4``: this child, not the others)."""
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err_path.read_text()[-3000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, out_path.read_text())


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "retail_pipeline.app.cli", *args]


def split(stdout: str) -> tuple[dict[str, float], dict[str, float]]:
    """(seconds per job, seconds per step summed over runs) from the summary ``retail-pipeline run`` prints."""
    jobs: dict[str, float] = defaultdict(float)
    steps: dict[str, float] = defaultdict(float)
    for line in stdout.splitlines():
        if m := RUN.match(line):
            jobs[m[1]] += float(m[2])
        elif m := STEP.match(line):
            steps[m[1]] += float(m[2])
    return jobs, steps


def sensor_tick_seconds(workdir: Path, files: int = 1000) -> list[float]:
    """Wall seconds of three landing-sensor ticks that find nothing new among ``files`` landed files."""
    import dagster as dg

    from retail_pipeline.adapters.lakehouse import Lakehouse
    from retail_pipeline.adapters.landing_zone import LandingZone
    from retail_pipeline.defs.sensors import build_landing_sensor
    from retail_pipeline.settings import Settings

    landing = workdir / "sensor_landing"
    landing.mkdir()
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    for i in range(files):
        day = 1 + i % 28
        (landing / f"f{i:04d}.csv").write_text(header + f"{540000 + i},21777,BOX,1,1/{day}/2011 10:00,7.95,,France\n")
    resources = {"landing": LandingZone(root=str(landing)), "lakehouse": Lakehouse(root=str(workdir / "sensor_lake"))}
    instance = dg.DagsterInstance.ephemeral()
    landing_sensor = build_landing_sensor(Settings())
    cursor = None
    for _ in range(2):  # first sight, then landing
        result = landing_sensor(dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources))
        cursor = result.cursor
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        result = landing_sensor(dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources))
        seconds.append(time.perf_counter() - started)
        assert result.skip_reason and "nothing new" in result.skip_reason.skip_message, result
    return seconds


NEW_DAYS = ("2011-12-12", "2011-12-13", "2011-12-14")  # after the generated history, which ends 2011-12-09


def bench_size(rows: int, chunk: int, day_rows: int, workdir: Path) -> float:
    """Print the figures of one size; return the median seconds of the one-day runs' partitioned part."""
    landing, lake, floor_lake, home = (workdir / n for n in ("landing", "lake", "floor_lake", "home"))
    home.mkdir()
    # The repo's instance configuration (its event log storage matters: one event per partition per asset).
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", home / "dagster.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_", "DAGSTER_"))},
        "DAGSTER_HOME": str(home),
        "DAGSTER_DATA_DIR": str(home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "RETAIL_MAX_PARTITIONS_PER_RUN": str(chunk),
    }
    print(f"\n== {rows:,} rows (runs of at most {chunk} daily partitions) ==", flush=True)
    gen = measure(cli("generate", "--out", str(landing), "--rows", str(rows)), env, workdir)
    print(f"generate                 {gen.seconds:8.1f} s   peak RSS {gen.peak_rss_mib:8.0f} MiB", flush=True)

    full = measure(cli("run", "--landing", str(landing), "--lakehouse", str(lake)), env, workdir)
    jobs, steps = split(full.stdout)
    print(
        f"full run (Dagster)       {full.seconds:8.1f} s   peak RSS {full.peak_rss_mib:8.0f} MiB   "
        f"{rows / full.seconds:10,.0f} rows/s",
        flush=True,
    )
    for job, seconds in jobs.items():
        print(f"    job {job:<28} {seconds:8.1f} s")
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1])[:12]:
        print(f"    step {step:<52} {seconds:8.1f} s")

    # The floor in the same chunks as the Dagster runs, and (where memory allows) in one eager pass.
    passes = [("floor, same chunks", chunk)] + ([("floor, one pass", 0)] if rows <= 2_000_000 else [])
    for label, days in passes:
        shutil.rmtree(floor_lake, ignore_errors=True)
        floor = measure(
            [sys.executable, "-m", "retail_pipeline_tests.bench_floor", "--landing", str(landing), "--out",
             str(floor_lake), "--chunk", str(days)],
            env, workdir,
        )
        print(
            f"{label + ' (no Dagster)':<24} {floor.seconds:8.1f} s   peak RSS {floor.peak_rss_mib:8.0f} MiB   "
            f"{rows / floor.seconds:10,.0f} rows/s   ratio full/floor {full.seconds / floor.seconds:5.2f}x",
            flush=True,
        )

    partitioned_seconds = []
    for i, day in enumerate(NEW_DAYS):
        extra = workdir / f"extra_{day}"
        measure(cli("generate", "--out", str(extra), "--rows", str(day_rows), "--start", day, "--end", day,
                    "--seed", str(7 + i)), env, workdir)
        for file in extra.iterdir():
            shutil.move(str(file), landing / file.name)
        inc = measure(cli("run", "--landing", str(landing), "--lakehouse", str(lake)), env, workdir)
        jobs, _ = split(inc.stdout)
        partitioned = jobs.get("landing_job", 0) + jobs.get("partitions_job", 0)
        partitioned_seconds.append(partitioned)
        print(
            f"new day {day} ({day_rows:,} rows) {inc.seconds:6.1f} s wall (process)   peak RSS {inc.peak_rss_mib:6.0f} MiB"
            f"   partitioned part {partitioned:4.1f} s (landing {jobs.get('landing_job', 0):.1f} + partitions "
            f"{jobs.get('partitions_job', 0):.1f}), whole-history marts {jobs.get('history_job', 0):.1f} s",
            flush=True,
        )
    median = statistics.median(partitioned_seconds)
    print(f"one new day, partitioned part: median {median:.1f} s of {len(NEW_DAYS)} days", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="sizes to run (default 1,000,000 and 10,000,000)")
    parser.add_argument("--chunk", type=int, default=31, help="most daily partitions per run (default 31: a month)")
    parser.add_argument("--day-rows", type=int, default=10_000, help="rows of each new day file (default 10,000)")
    parser.add_argument("--keep", help="keep the data under this directory instead of a temporary one")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000, 10_000_000]
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    one_day: dict[int, float] = {}
    for rows in sizes:
        base = Path(args.keep) / f"rows_{rows}" if args.keep else Path(tempfile.mkdtemp(prefix=f"bench_{rows}_"))
        base.mkdir(parents=True, exist_ok=True)
        try:
            one_day[rows] = bench_size(rows, args.chunk, args.day_rows, base)
        finally:
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)
    if len(one_day) > 1:
        small, large = min(one_day), max(one_day)
        print(
            f"\none new day, partitioned part: {one_day[large]:.1f} s on {large:,} rows of history vs "
            f"{one_day[small]:.1f} s on {small:,}: {one_day[large] / one_day[small]:.2f}x"
        )
    with tempfile.TemporaryDirectory(prefix="bench_sensor_") as tmp:
        ticks = sensor_tick_seconds(Path(tmp))
        print(
            f"\nlanding sensor tick, 1,000 files, nothing new: median {statistics.median(ticks):.3f} s "
            f"({', '.join(f'{t:.3f}' for t in ticks)})"
        )


if __name__ == "__main__":
    main()

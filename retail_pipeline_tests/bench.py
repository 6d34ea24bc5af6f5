"""``make bench``: the pipeline's speed and memory against bare polars, measured, not asserted (pytest does not
collect this file).

The yardstick is ``../shared/bench/baseline_polars.py`` (``RETAIL_BENCH_BASELINE`` to point elsewhere): a bare
polars + deltalake medallion run on the same input in the same invocation, so the ratios hold however fast the
machine is that day. ``retail-pipeline run`` runs with the project's default settings and its own
``dagster.yaml`` (in a fresh ``DAGSTER_HOME``), from an empty lakehouse. Each process is measured alone: wall
seconds from the clock, peak RSS from ``wait4``; and the events and bytes each run wrote to Dagster's event log.

Cases (``--case`` to pick some; ``--rows`` scales the 10M and 30M ones down for a quick look):

- ``one-file``: 10M rows in one UCI-format file (``M/D/YYYY H:MM``): full run vs baseline (target <= 3x, <= 6 GiB);
- ``day-files``: the same 10M rows in 321 day files: full run vs baseline; then one new day on that history
  (target: the whole-history marts, warehouse and report refresh in <= 5 s);
- ``huge-file``: 30M rows in one file: memory only (target <= 6 GiB), the baseline would not fit;
- ``real``: 541,909 rows in 305 day files in the real export's format (ISO dates with seconds, customer ids as
  ``17850.0``, no file on Saturdays, the Christmas closure or bank holidays), the stand-in for the real data:
  full run vs baseline (target <= 5x), then one new day (target <= 2.5x the baseline's full run);
- ``history-1m``: one new day on a 1M-row history (compare with ``day-files``' new day: it follows the new data).

    python -m retail_pipeline_tests.bench [--case real --case one-file] [--rows 10000000] [--keep DIR]
"""

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = Path(os.environ.get("RETAIL_BENCH_BASELINE", REPO.parent / "shared" / "bench" / "baseline_polars.py"))
GIB = 1024  # MiB
RUN = re.compile(r"^(\w+): ([\d.]+) s \(steps.*run ([0-9a-f-]{36})")
REAL_DAY_ROWS = 1_777  # 541,909 rows / 305 days
REAL_CLOSED = {date(2010, 12, 24) + timedelta(days=i) for i in range(11)} | {
    date(2011, 4, 22), date(2011, 4, 24), date(2011, 4, 25), date(2011, 4, 29), date(2011, 5, 2), date(2011, 5, 30),
    date(2011, 8, 29),
}
NEW_DAY = date(2011, 12, 12)  # the Monday after the generated history (2010-12-01 .. 2011-12-09)


@dataclass
class Measured:
    seconds: float
    peak_rss_mib: float
    stdout: str
    jobs: dict[str, float] = field(default_factory=dict)
    events: int = 0
    event_bytes: int = 0


@dataclass
class Target:
    what: str
    figure: float
    limit: float
    unit: str

    @property
    def met(self) -> bool:
        return self.figure <= self.limit

    def line(self) -> str:
        verdict = "MET" if self.met else "NOT MET"
        return f"  [{verdict:>7}] {self.what}: {self.figure:,.2f}{self.unit} (target <= {self.limit:,.2f}{self.unit})"


class Bench:
    def __init__(self, workdir: Path, keep: bool = False):
        self.workdir, self.keep = workdir, keep
        self.home = workdir / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster.yaml", self.home / "dagster.yaml")  # the project's own instance settings
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_", "DAGSTER_"))},
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_DATA_DIR": str(self.home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PYTHONPATH": str(REPO),
        }
        self.targets: list[Target] = []

    def measure(self, cmd: list[str]) -> Measured:
        """Run ``cmd``; its wall time, its own peak RSS (``wait4``: this child, not the others) and, for a
        ``retail-pipeline run``, its jobs' seconds and the events its runs stored."""
        out_path, err_path = self.workdir / "stdout.txt", self.workdir / "stderr.txt"
        with out_path.open("w") as out, err_path.open("w") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=self.env, cwd=self.workdir)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{out_path.read_text()[-2000:]}\n{err_path.read_text()[-3000:]}")
        measured = Measured(seconds, usage.ru_maxrss / 1024, out_path.read_text())
        run_ids = []
        for line in measured.stdout.splitlines():
            if m := RUN.match(line):
                measured.jobs[m[1]] = measured.jobs.get(m[1], 0.0) + float(m[2])
                run_ids.append(m[3])
        measured.events, measured.event_bytes = self.events_of(run_ids)
        return measured

    def events_of(self, run_ids: list[str]) -> tuple[int, int]:
        store = self.home / "event_log.db"
        if not run_ids or not store.exists():
            return 0, 0
        with sqlite3.connect(store) as db:
            marks = ",".join("?" * len(run_ids))
            count, size = db.execute(
                f"SELECT count(*), coalesce(sum(length(event)), 0) FROM event_logs WHERE run_id IN ({marks})", run_ids
            ).fetchone()
        return int(count), int(size)

    def pipeline(self, label: str, landing: Path, lake: Path) -> Measured:
        m = self.measure(cli("run", "--landing", str(landing), "--lakehouse", str(lake)))
        jobs = ", ".join(f"{job} {s:.1f} s" for job, s in m.jobs.items())
        print(
            f"  {label:<34} {m.seconds:8.1f} s   peak RSS {m.peak_rss_mib:7,.0f} MiB   "
            f"events {m.events:,} ({m.event_bytes / 2**20:,.1f} MiB)\n      jobs: {jobs}",
            flush=True,
        )
        return m

    def baseline(self, label: str, source: str, out: Path, date_format: str | None = None) -> Measured:
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, str(BASELINE), "--input", source, "--out", str(out)]
        m = self.measure(cmd + (["--date-format", date_format] if date_format else []))
        print(f"  {label:<34} {m.seconds:8.1f} s   peak RSS {m.peak_rss_mib:7,.0f} MiB", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        return m

    def done(self, case_dir: Path) -> None:
        """A case's data is deleted once measured (disk), unless ``--keep`` asked to look at it."""
        if not self.keep:
            shutil.rmtree(case_dir, ignore_errors=True)

    def target(self, what: str, figure: float, limit: float, unit: str = "x") -> None:
        t = Target(what, figure, limit, unit)
        self.targets.append(t)
        print(t.line(), flush=True)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "retail_pipeline.app.cli", *args]


def generate(bench: Bench, out: Path, rows: int, *extra: str) -> None:
    m = bench.measure(cli("generate", "--out", str(out), "--rows", str(rows), *extra))
    print(f"  generate {rows:,} rows{' ' + ' '.join(extra) if extra else ''}: {m.seconds:.1f} s", flush=True)


def one_file(day_files: Path, target: Path) -> None:
    """The day files as one export (one header, the days in order), streamed: the 30M file does not fit twice."""
    import polars as pl

    target.parent.mkdir(parents=True, exist_ok=True)
    pl.scan_csv(str(day_files / "*.csv"), infer_schema=False).sink_csv(target)


def real_format(day_files: Path, out: Path) -> int:
    """The generated day files rewritten in the real export's format: ISO date-times with seconds, customer ids
    as floats (``17850.0``), and no file on the days the shop was closed (their lines move to the next open
    day, so the row count stays). Returns the number of files."""
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    frame = pl.read_csv(str(day_files / "*.csv"), infer_schema=False)
    stamp = pl.col("InvoiceDate").str.strptime(pl.Datetime, "%m/%d/%Y %H:%M")
    reopens = {}
    for day in REAL_CLOSED:
        after = day + timedelta(days=1)
        while after in REAL_CLOSED or after.weekday() == 5:
            after += timedelta(days=1)
        reopens[day] = after
    frame = frame.with_columns(stamp.dt.date().replace(reopens).alias("day"))
    frame = frame.with_columns(
        (pl.col("day").cast(pl.Datetime) + (stamp - stamp.dt.truncate("1d"))).dt.strftime("%Y-%m-%d %H:%M:%S").alias("InvoiceDate"),
        pl.when(pl.col("CustomerID").is_null() | pl.col("CustomerID").str.contains(r"\.")).then(pl.col("CustomerID"))
        .otherwise(pl.col("CustomerID") + ".0").alias("CustomerID"),
    )
    files = 0
    for (day,), part in frame.partition_by("day", as_dict=True, maintain_order=True).items():
        part.drop("day").write_csv(out / f"online_retail_{day.isoformat()}.csv")
        files += 1
    return files


def new_day(bench: Bench, landing: Path, rows: int, real: bool) -> None:
    extra = bench.workdir / f"extra_{NEW_DAY}"
    shutil.rmtree(extra, ignore_errors=True)
    generate(bench, extra, rows, "--start", NEW_DAY.isoformat(), "--end", NEW_DAY.isoformat(), "--seed", "7")
    if real:
        staged = bench.workdir / "extra_real"
        shutil.rmtree(staged, ignore_errors=True)
        real_format(extra, staged)
        extra = staged
    for file in extra.iterdir():
        shutil.move(str(file), landing / file.name)


def case_one_file(bench: Bench, rows: int, label: str, baseline: bool = True) -> None:
    w = bench.workdir / label
    days, landing = w / "days", w / "landing"
    generate(bench, days, rows)
    one_file(days, landing / "online_retail.csv")
    shutil.rmtree(days)
    size = (landing / "online_retail.csv").stat().st_size
    print(f"  one file: {size / 2**30:.2f} GiB", flush=True)
    base = bench.baseline("bare polars (baseline)", str(landing / "online_retail.csv"), w / "base") if baseline else None
    run = bench.pipeline("retail-pipeline run", landing, w / "lake")
    if base:
        bench.target(f"{rows:,} rows in one file: full run / bare polars", run.seconds / base.seconds, 3.0)
    bench.target(f"{rows:,} rows in one file: peak RSS", run.peak_rss_mib / GIB, 6.0, " GiB")
    bench.done(w)


def case_day_files(bench: Bench, rows: int) -> None:
    w = bench.workdir / "day-files"
    landing = w / "landing"
    generate(bench, landing, rows)
    base = bench.baseline("bare polars (baseline)", str(landing / "*.csv"), w / "base")
    run = bench.pipeline("retail-pipeline run", landing, w / "lake")
    print(f"  ratio full run / bare polars: {run.seconds / base.seconds:.2f}x", flush=True)
    new_day(bench, landing, REAL_DAY_ROWS, real=False)
    inc = bench.pipeline(f"one new day ({REAL_DAY_ROWS:,} rows)", landing, w / "lake")
    bench.target(f"one new day on {rows:,} rows: whole-history marts, warehouse, report", inc.jobs.get("history_job", 0.0), 5.0, " s")
    bench.done(w)


def case_real(bench: Bench) -> None:
    w = bench.workdir / "real"
    generated, landing = w / "generated", w / "landing"
    generate(bench, generated, 541_909)
    files = real_format(generated, landing)
    shutil.rmtree(generated)
    print(f"  real export format: {files} day files", flush=True)
    base = bench.baseline("bare polars (baseline)", str(landing / "*.csv"), w / "base", "%Y-%m-%d %H:%M:%S")
    run = bench.pipeline("retail-pipeline run", landing, w / "lake")
    bench.target("real format, 305 files: full run / bare polars", run.seconds / base.seconds, 5.0)
    new_day(bench, landing, REAL_DAY_ROWS, real=True)
    inc = bench.pipeline(f"one new day ({REAL_DAY_ROWS:,} rows)", landing, w / "lake")
    bench.target("real format: one new day / bare polars' full run", inc.seconds / base.seconds, 2.5)
    bench.done(w)


def case_history_1m(bench: Bench) -> None:
    w = bench.workdir / "history-1m"
    landing = w / "landing"
    generate(bench, landing, 1_000_000)
    bench.pipeline("retail-pipeline run", landing, w / "lake")
    new_day(bench, landing, REAL_DAY_ROWS, real=False)
    bench.pipeline(f"one new day ({REAL_DAY_ROWS:,} rows)", landing, w / "lake")
    bench.done(w)


CASES = ("real", "one-file", "day-files", "history-1m", "huge-file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=CASES, help=f"cases to run (default all: {', '.join(CASES)})")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the one-file and day-files cases (10M)")
    parser.add_argument("--huge-rows", type=int, default=30_000_000, help="rows of the huge-file case (30M)")
    parser.add_argument("--keep", help="work under this directory (kept) instead of a temporary one")
    args = parser.parse_args()
    if not BASELINE.exists():
        sys.exit(f"the baseline script is not at {BASELINE}: set RETAIL_BENCH_BASELINE to its path")
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="retail_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir, keep=bool(args.keep))
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True)
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; commit {git.stdout.strip() or '?'}; "
          f"baseline {BASELINE}", flush=True)
    started = time.perf_counter()
    try:
        for case in args.case or CASES:
            print(f"\n== {case} ==", flush=True)
            if case == "real":
                case_real(bench)
            elif case == "one-file":
                case_one_file(bench, args.rows, "one-file")
            elif case == "day-files":
                case_day_files(bench, args.rows)
            elif case == "history-1m":
                case_history_1m(bench)
            elif case == "huge-file":
                case_one_file(bench, args.huge_rows, "huge-file", baseline=False)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    met = sum(t.met for t in bench.targets)
    print(f"\n== targets: {met} of {len(bench.targets)} met ({time.perf_counter() - started:,.0f} s) ==")
    for t in bench.targets:
        print(t.line())


if __name__ == "__main__":
    main()

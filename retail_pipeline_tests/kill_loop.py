"""Kill ``retail-pipeline run`` at random moments, heal, compare: the random-kill check of issue 14 (a script,
not part of the suite).

    python -m retail_pipeline_tests.kill_loop [--kills 50] [--seed 14] [--rows 2500] [--min-delay 0.3]

The scenario is the healing tests' (``app/test_healing.py``): a lakehouse built from the June 1-9 files, then
June 3 re-exported and June 10-19 dropped. Each round copies that lakehouse, starts a real ``retail-pipeline
run`` process, SIGKILLs it after a random delay (up to the length of an unkilled run; sometimes the healing
run is killed too, up to three kills in a row), then runs a plain ``retail-pipeline run`` and checks that it
ends "up to date", that every table equals a clean run's, that the warehouse holds the clean run's rows and
that the planner finds nothing behind. It prints one line per round and the totals.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import current_plan
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline_tests.app.healing_scenario import copy_landing, landings, warehouse_rows
from retail_pipeline_tests.fingerprint import fingerprints

REPO = Path(__file__).resolve().parents[1]
UNTIL = date(2026, 10, 30)
UP_TO_DATE = "up to date: every daily table, the whole-history marts, the warehouse and the report"


def start(landing: Path, lake: Path, home: Path) -> subprocess.Popen:
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DATA_DIR": str(home)}
    command = [sys.executable, "-m", "retail_pipeline.app.cli", "run", "--landing", str(landing), "--lakehouse", str(lake)]
    return subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--rows", type=int, default=2_500)
    parser.add_argument(
        "--min-delay", type=float, default=0.3,
        help="earliest kill, in seconds after the start (about 2.5 s here is spent importing, before any write)",
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="kill_loop_"))

    before, after = landings(root, args.rows, date(2011, 6, 19), date(2011, 6, 9), date(2011, 6, 3))

    def run_to_end(landing: Path, lake: Path, home: Path) -> tuple[float, str]:
        started = time.monotonic()
        process = start(landing, lake, home)
        out, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"a plain run failed (exit {process.returncode}):\n{out[-2000:]}\n{err[-2000:]}")
        return time.monotonic() - started, out

    run_to_end(before, root / "base" / "lake", root / "home")
    clean_seconds, _ = run_to_end(after, root / "clean" / "lake", root / "home")
    clean = fingerprints(str(root / "clean" / "lake"), UNTIL)
    clean_warehouse = warehouse_rows(root / "clean")
    print(f"scenario: {args.rows:,} rows, 19 day files; an unkilled run of the change takes {clean_seconds:.1f} s")

    kills = heals = finished_first = 0
    differed: list[str] = []
    rounds = 0
    while kills < args.kills:
        rounds += 1
        site = root / f"round_{rounds}"
        shutil.copytree(root / "base", site)
        landing = copy_landing(after, site / "landing")
        lake = site / "lake"
        delays = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):  # sometimes the healing run is killed as well
            delay = rng.uniform(args.min_delay, clean_seconds)
            process = start(landing, lake, root / "home")
            time.sleep(delay)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.communicate(timeout=60)
                kills += 1
                delays.append(f"{delay:.1f}s")
            else:
                process.communicate()
                finished_first += 1
                delays.append(f"{delay:.1f}s (finished first)")
            if kills >= args.kills:
                break
        _, out = run_to_end(landing, lake, root / "home")
        heals += 1
        problems = []
        if UP_TO_DATE not in out:
            problems.append("the healing run did not say up to date")
        ours = fingerprints(str(lake), UNTIL)
        tables = sorted({t for t in clean if ours.get(t) != clean[t]} | (set(ours) - set(clean)))
        problems += [f"table {t} differs" for t in tables]
        if warehouse_rows(site) != clean_warehouse:
            problems.append("the warehouse differs")
        if not current_plan(Lakehouse(root=str(lake)), *partition_bounds()).up_to_date:
            problems.append("the planner still finds work")
        differed += [f"round {rounds}: {p}" for p in problems]
        print(f"round {rounds:3d}: killed after {', '.join(delays)}; healed: {'; '.join(problems) or 'equal to a clean run'}")
        shutil.rmtree(site)

    print(
        f"\n{kills} kills in {rounds} rounds ({finished_first} runs finished before their kill), {heals} healing "
        f"runs, {len(differed)} problems" + (":\n  " + "\n  ".join(differed) if differed else "")
    )
    shutil.rmtree(root, ignore_errors=True)
    return 1 if differed else 0


if __name__ == "__main__":
    sys.exit(main())

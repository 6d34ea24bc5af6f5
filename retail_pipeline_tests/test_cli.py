"""The command line as a user runs it: a real process, a temporary Dagster instance, real files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    # The repo's dagster.yaml (its event log storage included), with its data in this test's directory.
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DATA_DIR": str(home)}
    env.pop("RETAIL_LANDING_DIR", None)
    env.pop("RETAIL_LAKEHOUSE_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "retail_pipeline.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_generate_then_run_builds_the_lakehouse_and_prints_a_summary(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    gen = cli("generate", "--out", "landing", "--rows", "3000", "--start", "2011-01-03", "--end", "2011-01-07",
              home=home, cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    assert "wrote 3,000 rows in 5 daily files" in gen.stdout

    run = cli("run", "--landing", "landing", "--lakehouse", "lake", home=home, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "files: 5 active, 0 duplicate, 0 missing, 0 rejected" in run.stdout
    assert "2011-01-03 .. 2011-01-07 (5 daily partitions, one run)" in run.stdout
    assert "Revenue per month:" in run.stdout and "Next: `make dev`" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr

    stats = pl.read_delta(str(tmp_path / "lake" / "silver" / "partition_stats"))
    assert stats["bronze_rows"].sum() == 3000
    line = next(l for l in run.stdout.splitlines() if l.startswith("Rows: bronze"))
    assert line.startswith("Rows: bronze 3,000 = silver ")
    assert (tmp_path / "lake" / "gold" / "monthly_kpis" / "_delta_log").is_dir()


def test_run_says_clearly_what_is_wrong_without_a_traceback(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    missing = cli("run", "--landing", "nowhere", "--lakehouse", "lake", home=home, cwd=tmp_path)
    assert missing.returncode == 2
    assert "landing zone nowhere is not a directory" in missing.stderr

    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "notes.csv").write_text("a,b\n1,2\n")
    (tmp_path / "lake").write_text("a file where the lakehouse directory should be")
    broken = cli("run", "--landing", "landing", "--lakehouse", "lake", home=home, cwd=tmp_path)
    assert broken.returncode == 1
    assert "error: landing_job" in broken.stderr and "Not a directory" in broken.stderr
    assert "Traceback" not in broken.stderr and "Stack Trace" not in broken.stderr

    bad_date = cli("generate", "--out", "x", "--start", "yesterday", home=home, cwd=tmp_path)
    assert bad_date.returncode == 2 and "is not a date like 2010-12-01" in bad_date.stderr

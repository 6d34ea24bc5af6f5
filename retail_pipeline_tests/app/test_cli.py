"""The command line as a user runs it: a real process, a temporary Dagster instance, real files."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from retail_pipeline.app.cli import main

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, home: Path, cwd: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    # The repo's dagster.yaml (its event log storage included), with its data in this test's directory.
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DATA_DIR": str(home), **(extra_env or {})}
    env.pop("RETAIL_LANDING_DIR", None)
    env.pop("RETAIL_LAKEHOUSE_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "retail_pipeline.app.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
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
    # The lakehouse's own outputs, where `paths` says they are.
    paths = cli("paths", "--lakehouse", "lake", "--landing", "landing", "--json", home=home, cwd=tmp_path)
    assert paths.returncode == 0, paths.stderr
    where = json.loads(paths.stdout)
    assert {k: where[k] for k in ("lakehouse", "landing", "warehouse", "reports", "dagster_home")} == {
        "lakehouse": str(tmp_path / "lake"),
        "landing": str(tmp_path / "landing"),
        "warehouse": str(tmp_path / "lake.duckdb"),
        "reports": str(tmp_path / "lake.reports"),
        "dagster_home": str(home),
    }
    assert f"Warehouse: {where['warehouse']}" in run.stdout
    assert f"Report: {Path(where['reports']) / 'kpi_report.html'}" in run.stdout
    assert Path(where["warehouse"]).is_file() and (Path(where["reports"]) / "kpi_report.html").is_file()


def test_sql_queries_the_gold_tables_as_the_warehouse_file_does(tmp_path, monkeypatch, capsys):
    import duckdb

    home = tmp_path / "dagster_home"
    home.mkdir()
    assert cli("generate", "--out", "landing", "--rows", "2000", "--start", "2011-01-28", "--end", "2011-02-02",
               home=home, cwd=tmp_path).returncode == 0
    assert cli("run", "--landing", "landing", "--lakehouse", "lake", home=home, cwd=tmp_path).returncode == 0
    query = "SELECT month, gross_revenue_gbp FROM monthly_kpis ORDER BY month"

    table = cli("sql", query, "--lakehouse", "lake", home=home, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "2011-01-01" in table.stdout and "2011-02-01" in table.stdout

    # The other answers of `sql` through the same entry point, in this process (`sql` needs no instance).
    monkeypatch.chdir(tmp_path)

    def sql(*args: str) -> tuple[int, str, str]:
        code = main(["sql", *args, "--lakehouse", "lake"])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, as_csv, _ = sql(query, "--format", "csv")
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as conn:
        in_warehouse = conn.sql(query).pl()
    assert code == 0 and pl.read_csv(as_csv.encode(), try_parse_dates=True).equals(in_warehouse)
    code, as_json, _ = sql("SELECT count(*) AS n FROM silver_transactions", "--format", "json")
    silver = pl.read_delta(str(tmp_path / "lake" / "silver" / "transactions"))
    assert code == 0 and as_json.strip() == f'[{{"n":{silver.height}}}]'

    code, _, err = sql("SELEC month FROM monthly_kpis")
    assert code == 2 and "Parser Error" in err and "Traceback" not in err
    code, _, err = sql("SELECT * FROM monthly_kpi")
    assert code == 2 and "monthly_kpi" in err and "Tables you can query here" in err
    version = len(list((tmp_path / "lake" / "gold" / "monthly_kpis" / "_delta_log").glob("*.json")))
    for write in ("DELETE FROM monthly_kpis", "DROP TABLE monthly_kpis", "COPY monthly_kpis TO 'out.csv'",
                  "INSERT INTO monthly_kpis SELECT * FROM monthly_kpis", "SELECT 1; DELETE FROM monthly_kpis"):
        code, _, err = sql(write)
        assert code == 2 and "error:" in err, write
    assert "only reads" in err or "exactly one" in err
    assert len(list((tmp_path / "lake" / "gold" / "monthly_kpis" / "_delta_log").glob("*.json"))) == version
    assert not (tmp_path / "out.csv").exists()
    assert pl.read_delta(str(tmp_path / "lake" / "gold" / "monthly_kpis")).height == 2

    rows_before = pl.read_delta(str(tmp_path / "lake" / "silver" / "transactions")).height
    maintained = cli("maintain", "--lakehouse", "lake", "--retention-hours", "0", home=home, cwd=tmp_path)
    assert maintained.returncode == 0, maintained.stderr
    line = next(l for l in maintained.stdout.splitlines() if l.startswith("silver/transactions"))
    assert line.split()[1:4] == ["2", "->", "2"]  # two months, one file each: nothing to compact
    assert pl.read_delta(str(tmp_path / "lake" / "silver" / "transactions")).height == rows_before
    bad = cli("maintain", "--lakehouse", "lake", home=home, cwd=tmp_path, extra_env={"RETAIL_VACUUM_RETENTION_HOURS": "a week"})
    assert bad.returncode == 2 and "RETAIL_VACUUM_RETENTION_HOURS='a week': expected a whole number" in bad.stderr
    assert "Traceback" not in bad.stderr


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
    # The writer lock is taken first, so the lakehouse that is not a directory is named before any run.
    assert "error: cannot take the writer lock of the lakehouse lake" in broken.stderr
    assert "Not a directory" in broken.stderr
    assert "Traceback" not in broken.stderr and "Stack Trace" not in broken.stderr

    bad_date = cli("generate", "--out", "x", "--start", "yesterday", home=home, cwd=tmp_path)
    assert bad_date.returncode == 2 and "is not a date like 2010-12-01" in bad_date.stderr

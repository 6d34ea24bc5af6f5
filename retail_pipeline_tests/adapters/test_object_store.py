"""The lakehouse on object storage: the whole pipeline against a real S3 endpoint (moto_server on 127.0.0.1),
run as a user runs it (`retail-pipeline run --lakehouse s3://...`), compared table by table with a local run;
and the storage credentials and the API key found in no output, log line, metadata value or stored file."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core.contracts import PER_RUN_COLUMNS
from retail_pipeline.core.tables import SQL_TABLES
from retail_pipeline_tests.api_server import ApiServer
from retail_pipeline_tests.conftest import write_csv

REPO = Path(__file__).resolve().parents[2]
MOTO = Path(sys.executable).parent / "moto_server"
# Columns that say when or by which run a row was written, not what it holds.
WHEN_WRITTEN = {*PER_RUN_COLUMNS, "_fetched_at"}
WHEN_LANDED = "first_seen"  # of the manifest (gold/dim_product's first_seen is a business date)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API on 127.0.0.1 (moto_server), for the tests of this module."""
    port = _free_port()
    server = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


def bucket(endpoint: str) -> str:
    """A new, empty bucket (an S3 PUT on the bucket's name creates it)."""
    name = f"lake-{uuid.uuid4().hex[:12]}"
    httpx.put(f"{endpoint}/{name}", timeout=10).raise_for_status()
    return name


def storage_env(endpoint: str, secret: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": f"AKIA{secret[:12].upper()}",
        "AWS_SECRET_ACCESS_KEY": secret,
    }


def cli(*args: str, home: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`retail-pipeline ARGS` in a fresh process with its own Dagster instance under ``home``."""
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_", "AWS_"))}
    full = clean | {"DAGSTER_HOME": str(home), "DAGSTER_DATA_DIR": str(home)} | env
    return subprocess.run(
        [sys.executable, "-m", "retail_pipeline.app.cli", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300
    )


def comparable(house: Lakehouse) -> dict[str, pl.DataFrame]:
    """Every table of the lakehouse without when-written columns, in a canonical order."""
    tables = {}
    for table in SQL_TABLES.values():
        if not house.exists(table):
            continue
        frame = house.read(table)
        frame = frame.drop([c for c in frame.columns if c in WHEN_WRITTEN])
        if table == "bronze/landed_files":
            frame = frame.drop(WHEN_LANDED)
        tables[table] = frame.sort(frame.columns, nulls_last=True)
    return tables


def local_files(root: Path) -> dict[Path, tuple[int, int]]:
    """Every file under ``root`` but the Dagster instances and landing zones, with its mtime and size."""
    return {
        p.resolve(): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(("home", "landing")) for part in p.relative_to(root).parts)
    }


def changed(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]]) -> set[Path]:
    return {p for p, stamp in after.items() if before.get(p) != stamp}


def generate(tmp_path: Path) -> Path:
    done = cli("generate", "--out", "landing", "--rows", "3000", "--start", "2011-03-28", "--end", "2011-04-05",
               home=tmp_path / "home_gen", cwd=tmp_path, env={})
    assert done.returncode == 0, done.stderr
    return tmp_path / "landing"


def test_the_pipeline_on_s3_gives_the_tables_of_a_local_run_and_keeps_every_secret(tmp_path, s3_endpoint):
    """`retail-pipeline run --lakehouse s3://...` writes the tables a local run writes. Both runs take their
    exchange rates and countries from an API with a key (a server on 127.0.0.1), so the run is given every kind
    of secret (S3 keys, the API key): each reaches only where it is used, not the CLI's output, not the Dagster
    instance (event log with every metadata value, run storage with the run config, compute logs), not the
    warehouse or the report."""
    landing = generate(tmp_path)
    storage_secret = uuid.uuid4().hex
    api_key = f"key-{uuid.uuid4().hex}"
    name = bucket(s3_endpoint)
    env = storage_env(s3_endpoint, storage_secret)
    home = tmp_path / "home_s3"
    with ApiServer() as api:
        apis = {
            "RETAIL_FX_API_URL": api.url("fx"),
            "RETAIL_COUNTRIES_API_URL": api.url("countries"),
            "RETAIL_FX_API_KEY": api_key,
            "RETAIL_API_RETRIES": "1",
        }
        # Three lakehouses run from one folder (as from the repository root): two local ones side by side
        # (the second on one day only, so its outputs differ) and one on S3.
        before = local_files(tmp_path)
        local = cli("run", "--landing", str(landing), "--lakehouse", str(tmp_path / "lake"),
                    home=tmp_path / "home_local", cwd=tmp_path, env=apis)
        assert local.returncode == 0, local.stdout + local.stderr
        written = {"lake": changed(before, before := local_files(tmp_path))}
        one_day = tmp_path / "landing_b"
        one_day.mkdir()
        shutil.copy(sorted(landing.iterdir())[0], one_day)
        other = cli("run", "--landing", str(one_day), "--lakehouse", "lake_b", home=tmp_path / "home_b", cwd=tmp_path, env={})
        assert other.returncode == 0, other.stdout + other.stderr
        written["lake_b"] = changed(before, before := local_files(tmp_path))
        remote = cli("run", "--landing", str(landing), "--lakehouse", f"s3://{name}/retail",
                     home=home, cwd=tmp_path, env=env | apis)
        sent = [r.headers.get("X-API-Key") for r in api.requests if r.route == "fx"]
    assert remote.returncode == 0, remote.stdout + remote.stderr
    written[f"s3://{name}/retail"] = changed(before, local_files(tmp_path))
    # No file is written by two of them, and each one's warehouse and report are where `paths` says.
    for lakehouse, files in written.items():
        others = set().union(*(f for other_house, f in written.items() if other_house != lakehouse))
        assert not files & others, f"{lakehouse} wrote {sorted(files & others)}, which another lakehouse wrote"
        where = json.loads(cli("paths", "--lakehouse", lakehouse, "--json", home=home, cwd=tmp_path, env=env).stdout)
        assert Path(where["warehouse"]).resolve() in files, (lakehouse, where)
        assert Path(where["reports"]).resolve() / "kpi_report.html" in files, (lakehouse, where)
    remote_warehouse = json.loads(cli("paths", "--lakehouse", f"s3://{name}/retail", "--json", home=home, cwd=tmp_path, env=env).stdout)["warehouse"]
    assert Path(remote_warehouse).resolve().is_relative_to((tmp_path / "data").resolve())
    assert f"Tables: s3://{name}/retail/" in remote.stdout
    assert sent and set(sent) == {api_key}  # the key was used...

    expected = comparable(Lakehouse(root=str(tmp_path / "lake")))
    on_s3 = Lakehouse(
        root=f"s3://{name}/retail",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        allow_http="true",
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=storage_secret,
    )
    got = comparable(on_s3)
    # Every table of the catalogue but the erasure register, which only `forget-customer` writes.
    assert set(expected) == set(SQL_TABLES.values()) - {"bronze/erased_customers"}
    assert set(got) == set(expected)
    for table, frame in expected.items():
        assert got[table].equals(frame), f"{table} differs between the S3 and the local run"
    assert got["bronze/fx_rates"].filter(pl.col("source") == "api").height > 0  # the API's rates, not the bundle's
    # Nothing of the lakehouse went to the local disk: only Dagster's instance and the warehouse/report.
    assert not [p for p in written[f"s3://{name}/retail"] if "_delta_log" in p.parts]

    # The tables are really in the bucket: its listing names the Delta logs.
    listing = httpx.get(f"{s3_endpoint}/{name}?list-type=2&prefix=retail/silver/transactions/_delta_log/", timeout=10)
    assert "00000000000000000000.json" in listing.text

    secrets = {
        "AWS_SECRET_ACCESS_KEY": storage_secret,
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "RETAIL_FX_API_KEY": api_key,
    }
    for variable, value in secrets.items():  # ... and is nowhere else
        assert value not in remote.stdout + remote.stderr, f"{variable} printed"
        stored = [p for p in tmp_path.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]
        assert not stored, f"{variable} stored in {stored}"
    # The same through Dagster's own API: every event of every run, metadata values included, as the UI
    # would show them, and the resources' config (which names the variables, not their values).
    os.environ["DAGSTER_DATA_DIR"], previous = str(home), os.environ.get("DAGSTER_DATA_DIR")
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs()
            events = [repr(e) for run in runs for e in instance.all_logs(run.run_id)]
            configs = [repr(run.run_config) for run in runs]
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_DATA_DIR")
        else:
            os.environ["DAGSTER_DATA_DIR"] = previous
    assert runs and len(events) > 100
    assert any("s3://" in line for line in events)  # the table URIs are there: the scan reads real metadata
    for value in secrets.values():
        assert not any(value in line for line in events + configs)

    # The same lakehouse keeps working from the CLI: SQL over it and maintenance on it.
    sql = cli("sql", "--lakehouse", f"s3://{name}/retail", "--format", "csv", "SELECT count(*) AS n FROM fact_sales",
              home=home, cwd=home, env=env)
    assert sql.returncode == 0, sql.stderr
    assert sql.stdout.split() == ["n", str(expected["gold/fact_sales"].height)]
    maintained = cli("maintain", "--lakehouse", f"s3://{name}/retail", "--retention-hours", "0",
                     home=home, cwd=home, env=env)
    assert maintained.returncode == 0, maintained.stdout + maintained.stderr
    assert storage_secret not in sql.stdout + sql.stderr + maintained.stdout + maintained.stderr
    after = comparable(on_s3)
    for table, frame in expected.items():
        assert after[table].equals(frame), f"{table} changed under maintenance"


def test_a_missing_bucket_is_a_clear_error_without_the_secret(tmp_path, s3_endpoint):
    landing = tmp_path / "landing"
    write_csv(landing / "online_retail_2011-03-28.csv", ["536365,85123A,HEART,6,3/28/2011 8:26,2.55,17850,United Kingdom"])
    secret = uuid.uuid4().hex
    env = storage_env(s3_endpoint, secret)
    done = cli("run", "--landing", str(landing), "--lakehouse", "s3://no-such-bucket-here/retail",
               home=tmp_path / "home", cwd=tmp_path, env=env)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "no-such-bucket-here" in output
    assert secret not in output

"""`retail-pipeline run` while `make dev` runs (``dagster dev``, its daemon ticking the landing sensor): the
CLI lands new files and the sensor asks for their dates too; both build them, one after the other, and the
lakehouse ends as one clean run's. Real processes: the webserver, the
daemon and its run workers, and the CLI, all on one lakehouse; only the loopback is used."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import current_plan
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline_tests.app.conftest import UNTIL, copy_landing, warehouse_rows
from retail_pipeline_tests.app.preloaded import Command
from retail_pipeline_tests.fingerprint import fingerprints

REPO = Path(__file__).resolve().parents[2]
IN_FLIGHT = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dev(tmp_path):
    """``dagster dev`` as ``make dev`` starts it, on a lakehouse and landing zone of this test."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")},
        "DAGSTER_HOME": str(home),
        "DAGSTER_DATA_DIR": str(home),
        "RETAIL_LANDING_DIR": str(tmp_path / "landing"),
        "RETAIL_LAKEHOUSE_URI": str(tmp_path / "lake"),
        "RETAIL_LANDING_SENSOR_INTERVAL_S": "1",
        "RETAIL_RETRY_BACKOFF_S": "5",
    }
    (tmp_path / "landing").mkdir()
    # Dagster creates its SQLite storages on first use; the CLI and dagster dev start at once here, and two
    # processes creating the schedule storage together leave it with two alembic heads (seen under load:
    # the daemon then never ticks). A user's instance exists before either starts; so does this one.
    with _data_dir(home), dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bin_dir / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(_free_port())],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "dev.log").open("w"), start_new_session=True,
    )
    try:
        yield {"env": env, "home": home, "landing": tmp_path / "landing", "lake": tmp_path / "lake", "log": tmp_path / "dev.log"}
    finally:
        os.killpg(server.pid, signal.SIGINT)  # dagster dev stops its webserver, daemon and code server
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@contextlib.contextmanager
def _data_dir(home: Path):
    """DAGSTER_DATA_DIR (read by dagster.yaml) pointing into ``home`` while the block runs."""
    previous = os.environ.get("DAGSTER_DATA_DIR")
    os.environ["DAGSTER_DATA_DIR"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_DATA_DIR")
        else:
            os.environ["DAGSTER_DATA_DIR"] = previous


def runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        return list(instance.get_runs())


def test_a_cli_run_beside_the_daemon_ends_with_one_clean_runs_tables(dev, scenario, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_DATA_DIR", str(dev["home"]))  # read by dagster.yaml, to look at the runs
    # Files land in the zone the sensor watches while `dagster dev` starts; the CLI lands them and pauses,
    # holding the writer lock, until the run the sensor asked for the same dates meanwhile waits for that
    # lock (without the pause, either may come first).
    copy_landing(scenario["after"], dev["landing"])
    resume = tmp_path / "resume"
    hook = {
        "RETAIL_PAUSE_AFTER": "record:bronze/landed_files",
        "RETAIL_PAUSE_UNTIL": str(resume),
        "RETAIL_PAUSE_SECONDS": "120",
        "RETAIL_KILL_MARK": str(tmp_path / "paused"),
    }
    cli = Command(["run"], {**dev["env"], **hook}, dev["home"], tmp_path / "streams")
    deadline = time.monotonic() + 120
    while "waiting for the lakehouse: `retail-pipeline run`" not in dev["log"].read_text():
        assert cli.running() and time.monotonic() < deadline, f"{cli.output()}\n{dev['log'].read_text()[-3000:]}"
        time.sleep(0.1)
    resume.touch()
    code, out, err = cli.wait()
    assert code == 0, out[-2000:] + err[-2000:]
    assert "[2/3] bronze -> silver -> gold for 2011-06-01 .. 2011-06-08" in out

    # The daemon finishes whatever it asked for, then finds nothing behind.
    house = Lakehouse(root=str(dev["lake"]))
    quiet_since = None
    while True:
        assert time.monotonic() < deadline + 120, f"the daemon never went quiet:\n{dev['log'].read_text()[-3000:]}"
        busy = any(run.status.value in IN_FLIGHT for run in runs(dev["home"]))
        if not busy and current_plan(house, *partition_bounds()).up_to_date:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 2.5:  # two sensor ticks with nothing asked
                break
        else:
            quiet_since = None
        time.sleep(0.5)

    launched = [run for run in runs(dev["home"]) if run.tags.get("dagster/sensor_name") == "landing_sensor"]
    assert "partitions_job" in {run.job_name for run in launched}, [r.job_name for r in launched]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in launched), [(r.job_name, r.status) for r in launched]
    # The sensor asked for the same dates the CLI built (the writer lock made them take turns).
    ranges = {(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
              for r in launched if r.job_name == "partitions_job"}
    assert ("2011-06-01", "2011-06-08") in ranges, ranges

    ours, clean = fingerprints(str(dev["lake"]), UNTIL), scenario["fingerprints"]
    assert {t for t in clean if ours.get(t) != clean[t]} | (set(ours) - set(clean)) == set()
    assert warehouse_rows(dev["lake"].parent) == scenario["warehouse"]

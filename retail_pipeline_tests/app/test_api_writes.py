"""Writing through the API under a real uvicorn on 127.0.0.1: uploads into the landing zone (atomic against a
landing sensor tick that races them, the size limit, duplicates, bad headers, scopes) and run requests to a
real Dagster instance, with a real ``dagster-daemon`` executing them and without one."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.app.generate import generate_landing
from retail_pipeline_tests.app.api_site import running_api
from retail_pipeline_tests.conftest import HEADER_I

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
LINE = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,6/1/2011 8:26,2.55,17850,United Kingdom"


def _csv(lines: int, header: str = HEADER_I) -> bytes:
    return ("\n".join([header, *[LINE] * lines]) + "\n").encode()


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "Traceback" not in response.text
    return response.json()


def _visible(landing: Path) -> list[str]:
    """What the landing lists (``LandingZone.list_files``: hidden and in-progress names are never landed)."""
    return LandingZone(root=str(landing)).list_files()["path"].to_list()


@pytest.fixture
def empty_site(tmp_path) -> Path:
    (tmp_path / "lakehouse").mkdir()
    return tmp_path


def test_an_upload_is_stored_byte_for_byte_under_a_safe_name_and_a_clash_gets_a_suffix(empty_site):
    landing = empty_site / "landing"
    with running_api(empty_site, RETAIL_LANDING_DIR=str(landing)) as api, api.client("upload") as client:
        first = _csv(3)
        body = client.post("/v1/landing", files={"file": ("../../etc/Shop Export (June)!.csv", first)})
        assert body.status_code == 201, body.text
        answer = body.json()
        assert answer == {
            "name": "Shop_Export_June.csv", "sha256": hashlib.sha256(first).hexdigest(), "size_bytes": len(first),
            "duplicate": False, "detail": answer["detail"],
        }
        assert (landing / "Shop_Export_June.csv").read_bytes() == first
        second = _csv(4)
        clash = client.post("/v1/landing", files={"file": ("Shop Export (June)!.csv", second)}).json()
        assert clash["name"] == "Shop_Export_June-2.csv" and not clash["duplicate"]
        assert (landing / "Shop_Export_June.csv").read_bytes() == first  # never replaced
        assert (landing / "Shop_Export_June-2.csv").read_bytes() == second
        assert _visible(landing) == ["Shop_Export_June-2.csv", "Shop_Export_June.csv"]
        assert not list(landing.glob(".upload-*"))


def test_the_same_bytes_again_are_reported_as_a_duplicate_and_not_stored_twice(empty_site):
    landing = empty_site / "landing"
    with running_api(empty_site, RETAIL_LANDING_DIR=str(landing)) as api, api.client("upload") as client:
        data = _csv(5)
        assert client.post("/v1/landing", files={"file": ("monday.csv", data)}).json()["duplicate"] is False
        again = client.post("/v1/landing", files={"file": ("copy of monday.csv", data)})
        assert again.status_code == 201
        assert again.json()["duplicate"] is True and again.json()["name"] == "monday.csv"
        assert _visible(landing) == ["monday.csv"]
        # A file of the same size but other bytes is not one.
        other = data.replace(b"17850", b"17851")
        assert client.post("/v1/landing", files={"file": ("tuesday.csv", other)}).json()["duplicate"] is False


def test_an_unknown_header_is_a_422_naming_the_missing_columns_and_leaves_nothing(empty_site, tmp_path):
    landing = empty_site / "landing"
    import xlsxwriter

    workbook = io.BytesIO()
    book = xlsxwriter.Workbook(workbook)
    book.add_worksheet("Sales").write_row(0, 0, ["InvoiceNo", "StockCode", "Description", "Quantity"])
    book.close()
    with running_api(empty_site, RETAIL_LANDING_DIR=str(landing)) as api, api.client("upload") as client:
        header = HEADER_I.replace("CustomerID", "Customer").replace("UnitPrice", "Price each")
        body = _problem(client.post("/v1/landing", files={"file": ("x.csv", _csv(2, header))}), 422)
        assert body["missing_columns"] == ["UnitPrice", "CustomerID"] and "UnitPrice" in body["detail"]
        sheet = _problem(client.post("/v1/landing", files={"file": ("book.xlsx", workbook.getvalue())}), 422)
        assert "Sales" in sheet["detail"] and "CustomerID" in sheet["missing_columns"]
        _problem(client.post("/v1/landing", files={"file": ("empty.csv", b"")}), 422)
        _problem(client.post("/v1/landing", files={"file": ("notes.txt", _csv(1))}), 415)
        _problem(client.post("/v1/landing", content=_csv(1), headers={"Content-Type": "text/csv"}), 415)
        _problem(client.post("/v1/landing", files={"other": ("x.csv", _csv(1))}), 422)
        _problem(client.post("/v1/landing", content=b"--xyz\r\ngarbage", headers={"Content-Type": "multipart/form-data; boundary=xyz"}), 422)
    assert not landing.exists() or not [p for p in landing.iterdir() if p.name != ".uploads.lock"]


def test_over_the_size_limit_is_a_413_and_nothing_is_left_behind(empty_site):
    landing = empty_site / "landing"
    with running_api(empty_site, RETAIL_LANDING_DIR=str(landing), RETAIL_API_MAX_UPLOAD_MB="1") as api:
        big = _csv(14_000)  # ~1.3 MiB
        assert len(big) > 2**20
        with api.client("upload") as client:
            declared = _problem(client.post("/v1/landing", files={"file": ("big.csv", big)}), 413)
            assert "RETAIL_API_MAX_UPLOAD_MB" in declared["detail"]

        # Chunked, without a Content-Length: refused while it streams, the part file removed.
        def chunks():
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]
            yield b"\r\n--b--\r\n"

        with api.client("upload") as client:
            streamed = client.post("/v1/landing", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
            _problem(streamed, 413)
        with api.client("upload") as client:
            small = client.post("/v1/landing", files={"file": ("small.csv", _csv(10))})
            assert small.status_code == 201
    assert sorted(p.name for p in landing.iterdir()) == [".uploads.lock", "small.csv"]


def test_a_landing_sensor_tick_racing_an_upload_never_sees_a_partial_file(empty_site):
    """A slow upload (chunks 20 ms apart) while the landing zone is listed and its files read in a loop, as the
    sensor's tick and the landing run do: the file is either absent or whole, with the uploaded bytes."""
    landing = empty_site / "landing"
    data = _csv(3000)
    pieces = [data[i : i + 8192] for i in range(0, len(data), 8192)]

    def slow():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.csv\"\r\n\r\n"
        for piece in pieces:
            time.sleep(0.02)
            yield piece
        yield b"\r\n--b--\r\n"

    seen, done = [], threading.Event()
    zone = LandingZone(root=str(landing))

    def tick():
        while not done.is_set():
            for path in zone.list_files()["path"].to_list():
                seen.append((path, hashlib.sha256((landing / path).read_bytes()).hexdigest()))
            time.sleep(0.005)

    with running_api(empty_site, RETAIL_LANDING_DIR=str(landing)) as api, api.client("upload") as client:
        landing.mkdir(parents=True, exist_ok=True)
        watcher = threading.Thread(target=tick)
        watcher.start()
        try:
            answer = client.post("/v1/landing", content=slow(), headers={"Content-Type": "multipart/form-data; boundary=b"})
            time.sleep(0.05)
        finally:
            done.set()
            watcher.join()
    assert answer.status_code == 201, answer.text
    whole = hashlib.sha256(data).hexdigest()
    assert seen, "the watcher never saw the stored file"
    assert {entry for entry in seen} == {("slow.csv", whole)}
    assert len(pieces) > 20  # the upload took long enough for many ticks


def test_each_write_route_refuses_a_key_without_its_scope(empty_site):
    with running_api(empty_site) as api:
        for key in ("read", "pii", "run", None):
            with api.client(key) as client:
                response = client.post("/v1/landing", files={"file": ("a.csv", _csv(1))})
                _problem(response, 401 if key is None else 403)
        for key in ("read", "pii", "upload", None):
            with api.client(key) as client:
                _problem(client.post("/v1/runs", json={"action": "update"}), 401 if key is None else 403)
        for key in ("pii", "upload", "run", None):
            with api.client(key) as client:
                _problem(client.get("/v1/runs/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), 401 if key is None else 403)
        assert not list(Path(api.settings.landing_dir).glob("*.csv"))


# --- run requests -------------------------------------------------------------------------------------------


@dg.asset
def breaks() -> None:
    raise ValueError("the supplier feed is empty\nsecond line")


def test_without_a_daemon_a_run_request_is_a_503_saying_how_to_start_one(empty_site, tmp_path):
    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster"))
    failed = dg.materialize([breaks], instance=instance, raise_on_error=False)
    with running_api(empty_site, instance=instance) as api:
        with api.client("run") as client:
            body = _problem(client.post("/v1/runs", json={"action": "update"}), 503)
            assert "dagster-daemon run" in body["detail"] and "make dev" in body["detail"]
            bad = _problem(client.post("/v1/runs", json={"action": "rebuild", "from": "2011-06-02"}), 422)
            assert "to" in bad["detail"]
            _problem(client.post("/v1/runs", json={"action": "rebuild", "from": "2011-06-09", "to": "2011-06-02"}), 422)
            _problem(client.post("/v1/runs", json={"action": "everything"}), 422)
        with api.client("read") as client:
            run = client.get(f"/v1/runs/{failed.run_id}").json()
            assert run["status"] == "FAILURE" and run["error"] == "breaks: ValueError: the supplier feed is empty"
            assert run["started"] and run["ended"] >= run["started"]
            _problem(client.get("/v1/runs/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), 404)
            _problem(client.get("/v1/runs/not-a-run"), 422)
    assert instance.get_runs_count() == 1  # nothing was queued


def _file_and_a_queue(site: Path, tmp_path: Path) -> tuple[Path, dg.DagsterInstance]:
    """A landing zone with one day file, and a file-backed instance whose run queue looks served: a daemon
    heartbeat written here stands for the daemon (nothing executes what is queued)."""
    from dagster._daemon.types import DaemonHeartbeat

    landing = site / "landing"
    landing.mkdir()
    (landing / "monday.csv").write_bytes(_csv(3))
    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster"))
    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "QUEUED_RUN_COORDINATOR", "test", None))
    return landing, instance


def test_concurrent_update_requests_queue_the_work_once(empty_site, tmp_path):
    """Three clients ask for an update at once: one landing run is queued, and every answer names it."""
    from concurrent.futures import ThreadPoolExecutor

    landing, instance = _file_and_a_queue(empty_site, tmp_path)
    with running_api(empty_site, instance=instance, RETAIL_LANDING_DIR=str(landing)) as api:

        def ask(_):
            with api.client("run") as client:
                return client.post("/v1/runs", json={"action": "update"})

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(ask, range(3)))
    assert [a.status_code for a in answers] == [202] * 3, [a.text for a in answers]
    runs = instance.get_runs()
    assert [run.job_name for run in runs] == ["landing_job"]
    assert {tuple(a.json()["run_ids"]) for a in answers} == {(runs[0].run_id,)}
    assert sorted(a.json()["submitted"] for a in answers) == [False, False, True]
    assert runs[0].tags["retail_pipeline/requested_by"] == "api:run"
    assert runs[0].tags["retail_pipeline/writes"] == "lakehouse" and runs[0].tags["dagster/run_key"].endswith("#0")


def test_definitions_that_do_not_load_are_a_503_naming_the_setting(empty_site, tmp_path, monkeypatch):
    """The runs are made from the definitions loaded in the API's process: a bad setting there (one the API
    itself does not read) is a 503 that names it, not a 500, and nothing is queued."""
    landing, instance = _file_and_a_queue(empty_site, tmp_path)
    with running_api(empty_site, instance=instance, RETAIL_LANDING_DIR=str(landing)) as api, api.client("run") as client:
        monkeypatch.setenv("RETAIL_SCHEDULE_TIME", "2am")
        body = _problem(client.post("/v1/runs", json={"action": "update"}), 503)
    assert "the definitions did not load" in body["detail"] and "RETAIL_SCHEDULE_TIME" in body["detail"]
    assert instance.get_runs_count() == 0


def _start_daemon(home: Path, environ: dict[str, str]) -> subprocess.Popen:
    log = (home / "daemon.log").open("wb")
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env={**os.environ, **environ}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait_for(condition, seconds: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} did not happen within {seconds} s\n{tail}")


def test_with_a_daemon_uploads_and_run_requests_build_the_lakehouse(tmp_path, monkeypatch):
    """Day files uploaded through the API, then `update` and `rebuild` requests: the daemon executes the queued
    runs (landing, the rebuilt range, the whole-history outputs), the API answers their status and serves the
    KPIs of the warehouse they built, and every uploaded line is in bronze."""
    home, site = tmp_path / "home", tmp_path / "site"
    home.mkdir()
    # The project's instance, its queue polled every second instead of every 5 s (the runs here are short).
    config = (REPO / "dagster.yaml").read_text()
    assert "        limit: 1\n" in config
    (home / "dagster.yaml").write_text(config.replace("        limit: 1\n", "        limit: 1\n    dequeue_interval_seconds: 1\n", 1))
    environ = {
        "DAGSTER_HOME": str(home), "DAGSTER_DATA_DIR": str(home / "data"), "DAGSTER_DISABLE_TELEMETRY": "1",
        "RETAIL_LANDING_DIR": str(site / "landing"), "RETAIL_LAKEHOUSE_URI": str(site / "lakehouse"),
        # The sensor's first tick sees the files for the first time; the next would land them: an hour away.
        "RETAIL_LANDING_SENSOR_INTERVAL_S": "3600",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    days = tmp_path / "days"
    generate_landing(days, rows=600, start=date(2011, 6, 1), end=date(2011, 6, 3))
    daemon = _start_daemon(home, environ)
    try:
        instance = dg.DagsterInstance.get()
        _wait_for(lambda: "QUEUED_RUN_COORDINATOR" in instance.get_daemon_heartbeats(), 60, "a daemon heartbeat", home / "daemon.log")
        with running_api(site, instance=instance, **environ) as api:
            with api.client("upload") as client:
                for day in sorted(days.iterdir()):
                    assert client.post("/v1/landing", files={"file": (day.name, day.read_bytes())}).status_code == 201

            def finished(client, run_ids):
                runs = [client.get(f"/v1/runs/{run_id}").json() for run_id in run_ids]
                return runs if all(run["status"] in ("SUCCESS", "FAILURE", "CANCELED") for run in runs) else None

            with api.client("all") as client:
                update = client.post("/v1/runs", json={"action": "update"})
                assert update.status_code == 202, update.text
                landing_runs = update.json()
                assert landing_runs["submitted"] and [run["job"] for run in landing_runs["runs"]] == ["landing_job"]
                # Asked again while it is queued or running: the same run, nothing new.
                again = client.post("/v1/runs", json={"action": "update"}).json()
                assert again["submitted"] is False and again["run_ids"] == landing_runs["run_ids"]
                runs = _wait_for(lambda: finished(client, landing_runs["run_ids"]), 120, "the landing run", home / "daemon.log")
                assert [run["status"] for run in runs] == ["SUCCESS"], runs

                rebuild = client.post("/v1/runs", json={"action": "rebuild", "from": "2011-06-01", "to": "2011-06-03"}).json()
                assert [run["job"] for run in rebuild["runs"]] == ["partitions_job", "history_job"]
                assert rebuild["runs"][0]["partition_range"] == {"from": "2011-06-01", "to": "2011-06-03"}
                runs = _wait_for(lambda: finished(client, rebuild["run_ids"]), 180, "the rebuild's runs", home / "daemon.log")
                assert [run["status"] for run in runs] == ["SUCCESS", "SUCCESS"], runs
                assert runs[1]["started"] >= runs[0]["ended"]  # one writer at a time, in queue order

                done = client.post("/v1/runs", json={"action": "update"}).json()
                assert done["submitted"] is False and done["run_ids"] == [] and "up to date" in done["detail"]
                kpis = client.get("/v1/kpis/monthly").json()
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)
    with duckdb.connect(str(site / "warehouse.duckdb"), read_only=True) as conn:
        expected = conn.sql("SELECT * FROM monthly_kpis ORDER BY month").pl()
    served = pl.DataFrame(kpis["rows"], schema=kpis["columns"], orient="row")
    assert served.columns == expected.columns and served.height == expected.height == 1
    numbers = [c for c, kind in expected.schema.items() if kind.is_numeric()]
    assert served.select(numbers).cast(pl.Float64).row(0) == pytest.approx(expected.select(numbers).cast(pl.Float64).row(0))
    assert expected["net_revenue_gbp"][0] > 0
    # Every uploaded line is in bronze: nothing lost on the way in.
    lines = sum(len(day.read_bytes().splitlines()) - 1 for day in days.iterdir())
    bronze = pl.read_delta(str(site / "lakehouse" / "bronze" / "transactions"))
    assert bronze.height == lines

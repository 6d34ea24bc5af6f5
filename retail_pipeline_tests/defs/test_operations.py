"""The run-failure alert: a real failed run, the sensor evaluated on it, and a webhook on 127.0.0.1."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.resources import build_resources
from retail_pipeline.defs.sensors import run_failure_alert


class Webhook:
    """An HTTP server on 127.0.0.1 that records every POST and answers ``status``."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                webhook.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failed_run(tmp_path):
    """A real failed run: landing_job on a lakehouse path that is a file."""
    (tmp_path / "landing").mkdir()
    (tmp_path / "lake").write_text("not a directory")
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(resources=build_resources(str(tmp_path / "landing"), str(tmp_path / "lake")))
    result = defs.resolve_job_def("landing_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return instance, result


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _evaluate(instance, result) -> str:
    """Evaluate the sensor on the failed run as the daemon would; what it logged on its tick."""
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        # As the definitions build it from the environment (RETAIL_ALERT_WEBHOOK, held as dg.EnvVar).
        resources={"alert_webhook": build_resources()["alert_webhook"]},
    ).for_run_failure()
    lines = Lines()
    context.log.addHandler(lines)  # the tick's log, shown with the tick in the UI
    run_failure_alert(context)
    return "\n".join(lines.lines)


def _alert_through_webhook(failed_run, monkeypatch, status: int) -> tuple[list[dict], str]:
    """The posts a webhook on 127.0.0.1 answering ``status`` received, and what the sensor logged."""
    instance, result = failed_run
    hook = Webhook(status)
    monkeypatch.setenv("RETAIL_ALERT_WEBHOOK", hook.url)
    try:
        logged = _evaluate(instance, result)
    finally:
        hook.close()
    return hook.posts, logged


def test_a_failed_run_is_posted_to_the_webhook(failed_run, monkeypatch):
    _, result = failed_run
    posts, logged = _alert_through_webhook(failed_run, monkeypatch, 200)
    assert len(posts) == 1
    post = posts[0]
    assert post["run_id"] == result.run_id and post["job"] == "landing_job"
    assert post["text"].startswith(f"retail-pipeline: run {result.run_id} of landing_job failed: bronze__")
    assert "Could not create local directory" in post["text"]  # the root cause, not only "steps failed"
    assert post["text"] in logged
    assert "secret-token" not in logged


def test_a_webhook_that_fails_leaves_the_alert_in_the_log_without_its_url(failed_run, monkeypatch):
    _, result = failed_run
    posts, logged = _alert_through_webhook(failed_run, monkeypatch, 500)
    assert len(posts) == 1
    assert "the alert webhook answered HTTP 500; the alert is in this log only" in logged
    assert f"run {result.run_id} of landing_job failed" in logged
    assert "secret-token" not in logged and "127.0.0.1" not in logged


def test_without_a_webhook_the_alert_is_logged(failed_run, monkeypatch):
    instance, result = failed_run
    monkeypatch.delenv("RETAIL_ALERT_WEBHOOK", raising=False)
    assert f"run {result.run_id} of landing_job failed" in _evaluate(instance, result)

"""One access-log line per request (request id, method, route template, status, latency, key name: never the
key, the path's values or the query string, so no customer id), the ``X-Request-ID`` header, and the
Prometheus metrics of the requests (``retail_api_requests_total``, ``retail_api_request_duration_seconds``)
and of the pipeline (gauges read from the tables when ``/metrics`` is scraped)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from retail_pipeline.app.api.problems import problem_response

log = logging.getLogger("retail_pipeline.api.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Methods counted by name; any other (a client may send any token) is "other": labels stay few.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class Metrics:
    """The app's own registry (two apps in one process, as in the tests, never share counters)."""

    def __init__(self, pipeline: Callable[[], dict]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "retail_api_requests", "Requests answered, by route template, method and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "retail_api_request_duration_seconds", "Time to answer a request, by route template", ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry,
        )
        self.registry.register(_PipelineCollector(pipeline))


class _PipelineCollector:
    """Gauges of the lakehouse, computed at scrape time from ``pipeline()`` (kept per table version)."""

    def __init__(self, pipeline: Callable[[], dict]):
        self.pipeline = pipeline

    def describe(self):
        return []  # computed at scrape time only: registering must not read the lakehouse

    def collect(self):
        figures = self.pipeline()
        rows = GaugeMetricFamily("retail_table_rows", "Rows of each lakehouse table (its Delta log)", labels=["table"])
        version = GaugeMetricFamily("retail_table_version", "Delta version of each table", labels=["table"])
        for name, facts in figures["tables"].items():
            rows.add_metric([name], facts["rows"])
            version.add_metric([name], facts["version"])
        quarantined = GaugeMetricFamily("retail_quarantined_rows", "Rows in silver.quarantine, by reason code", labels=["reason"])
        for reason, count in figures["quarantined_by_reason"].items():
            quarantined.add_metric([reason], count)
        score = GaugeMetricFamily("retail_quality_score", "Mean data-quality score of each table (gold.dq_scorecard)", labels=["table"])
        for table, scores in figures["quality_scores"].items():
            score.add_metric([table], scores["mean_score"])
        yield from (rows, version, quarantined, score)
        age = figures.get("last_successful_run_age_s")
        if age is not None:
            gauge = GaugeMetricFamily("retail_last_successful_run_age_seconds", "Seconds since the last successful Dagster run ended")
            gauge.add_metric([], age)
            yield gauge


def _raised_at(exc: BaseException) -> str:
    """Where ``exc`` was raised (file:line): the traceback's text stays out of the log (it could hold a
    request's values); this is enough to find the bug."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"


class AccessLog:
    """ASGI middleware: the request id, the log line and the request metrics."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status, started_response = 500, False

        async def send_with_id(message):
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # a bug: a problem+json 500 and one log line, no traceback anywhere
            log.error("request_id=%s unexpected %s at %s", request_id, type(exc).__name__, _raised_at(exc))
            if not started_response:
                response = problem_response(
                    None, 500, "the server failed to answer this request; its log names the error by the request id",
                    request_id=request_id,
                )
                await response(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            key = scope["state"].get("key_name", "-")
            log.info(
                "request_id=%s method=%s route=%s status=%d latency_ms=%.1f key=%s",
                request_id, method, route, status, elapsed * 1000, key,
            )

"""The resilient HTTP client against a real server on 127.0.0.1 with scripted faults: every test counts the
requests that reached the server, so backoff, Retry-After, the breaker and validation are seen working."""

import json
import socket
import time
from datetime import date

import pytest

from retail_pipeline.adapters.http_client import (
    ApiClient,
    ApiError,
    CircuitBreaker,
    CircuitOpenError,
    RateLimiter,
    RetryPolicy,
    retry_after_seconds,
    safe_url,
)
from retail_pipeline.core.enrichment.fx import parse_frankfurter
from retail_pipeline_tests.api_server import ApiServer, Fault, fx_document_bytes

START, END = date(2011, 1, 3), date(2011, 1, 31)
PATH = f"{START}..{END}"
PARAMS = {"base": "EUR", "symbols": "GBP,USD"}


def validate(doc):
    return parse_frankfurter(doc, START, END, ["GBP", "USD"])


class Sleeps(list):
    """Records the waits the client asks for instead of sleeping them (the server is real, time is not)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(server: ApiServer, sleeps: Sleeps | None = None, **kwargs) -> ApiClient:
    options = dict(
        policy=RetryPolicy(retries=3, backoff_base_s=0.5, max_retry_after_s=10),
        breaker=CircuitBreaker(failure_threshold=5, cooldown_s=60),
        limiter=RateLimiter(1000),
        read_timeout_s=2.0,
        connect_timeout_s=1.0,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    options.update(kwargs)
    return ApiClient(server.url("fx"), **options)


@pytest.fixture
def server():
    with ApiServer() as s:
        yield s


def test_a_good_answer_is_validated_and_fetched_once(server):
    with client_for(server) as client:
        got = client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 1 and got.attempts == 1 and got.status == 200
    assert got.data["rate_date"].min() <= START and got.data["rate_date"].max() == END
    assert set(got.data["currency"]) == {"GBP", "USD"}
    assert got.url == f"http://127.0.0.1:{server.port}/fx/{PATH}?base=EUR&symbols=GBP,USD"
    assert len(got.sha256) == 64


def test_500_then_success_retries_with_backoff(server):
    server.script("fx", Fault.error(500), Fault.error(503))
    sleeps = Sleeps()
    with client_for(server, sleeps) as client:
        got = client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 3 and got.attempts == 3
    # Exponential with equal jitter: retry 0 waits in [0.25, 0.5], retry 1 in [0.5, 1.0].
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_429_waits_what_retry_after_says(server):
    server.script("fx", Fault.error(429, Retry_After="7"))
    sleeps = Sleeps()
    with client_for(server, sleeps) as client:
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 2 and sleeps == [7.0]


def test_429_asking_for_too_long_gives_up_at_once(server):
    server.script("fx", Fault.error(429, Retry_After="3600"))
    with client_for(server) as client, pytest.raises(ApiError, match="Retry-After 3600 s, more than the 10 s"):
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 1


def test_429_does_not_open_the_breaker(server):
    server.script("fx", *[Fault.error(429, Retry_After="0")] * 3)
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=60)
    with client_for(server, breaker=breaker) as client:
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 4 and breaker.state == "closed"


def test_a_hanging_answer_times_out_and_is_retried(server):
    server.script("fx", Fault(hang_s=1.5))
    started = time.monotonic()
    with client_for(server, read_timeout_s=0.3) as client:
        got = client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 2 and got.attempts == 2
    assert time.monotonic() - started < 1.4  # the timeout, not the hang, decided


def test_a_dropped_connection_is_retried(server):
    server.script("fx", Fault(drop=True))
    with client_for(server) as client:
        got = client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 2 and got.status == 200


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"amount": 1.0, "base": "EUR", "rates": {"2011-01-03": {"GBP": 0.8', "invalid body"),
        (b"<html>maintenance</html>", "invalid body"),
        (fx_document_bytes(START, END, base="USD"), "base is 'USD'"),
        (fx_document_bytes(START, END, rates={}), "empty"),
        (json.dumps({"amount": 1, "base": "EUR", "rates": {"2011-01-03": {"GBP": "0.85", "USD": 1.3}}}).encode(),
         "not a positive number"),
        (json.dumps({"amount": 1, "base": "EUR", "rates": {"3 Jan 2011": {"GBP": 0.85, "USD": 1.3}}}).encode(),
         "not an ISO date"),
        (json.dumps({"amount": 1, "base": "EUR", "rates": {"2011-01-03": {"GBP": 0.85}}}).encode(), "lack USD"),
        (json.dumps({"amount": 1, "base": "EUR", "rates": {"2012-06-01": {"GBP": 0.85, "USD": 1.3}}}).encode(),
         "outside the requested"),
    ],
    ids=["truncated-json", "html", "wrong-base", "no-rates", "string-rate", "bad-date", "missing-currency",
         "out-of-range"],
)
def test_a_200_with_garbage_is_a_failure_not_data_and_is_not_retried(server, body, message):
    server.script("fx", Fault(body=body))
    with client_for(server) as client, pytest.raises(ApiError, match=message):
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 1


def test_a_200_with_missing_dates_is_a_failure(server):
    full = json.loads(fx_document_bytes(START, END))
    # Drop the middle two weeks: a gap no ECB holiday explains.
    full["rates"] = {d: r for d, r in full["rates"].items() if not "2011-01-10" <= d <= "2011-01-21"}
    server.script("fx", Fault(body=json.dumps(full).encode()))
    with client_for(server) as client, pytest.raises(ApiError, match="no fixing between 2011-01-07 and 2011-01-24"):
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 1


def test_other_4xx_are_not_retried(server):
    server.script("fx", Fault.error(404))
    with client_for(server) as client, pytest.raises(ApiError, match="HTTP 404"):
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 1


def test_retries_exhausted_say_what_happened(server):
    server.script("fx", *[Fault.error(502)] * 4)
    with client_for(server) as client, pytest.raises(ApiError, match="HTTP 502 after 4 attempts"):
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") == 4


def test_the_breaker_stops_calling_a_failing_server_and_tries_again_after_the_cooldown(server):
    server.script("fx", *[Fault.error(500)] * 100)
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=lambda: now[0])
    calls = [(PATH, PARAMS, validate)] * 6
    with client_for(server, breaker=breaker, max_concurrency=1) as client:
        outcomes = client.get_many(calls)
        # 6 calls x 4 attempts would be 24 requests: the breaker opened after 3.
        assert server.count("fx") == 3
        assert all(isinstance(o, ApiError) for o in outcomes)
        # The first call stopped when its own failures opened the circuit; the other five sent nothing.
        assert all(isinstance(o, CircuitOpenError) for o in outcomes)
        assert "HTTP 500" in outcomes[0].reason and outcomes[0].attempts == 3
        assert [o.attempts for o in outcomes[1:]] == [0] * 5
        assert breaker.state == "open" and breaker.times_opened == 1

        now[0] = 31.0  # cool-down over: one trial request, which fails and opens the circuit again
        with pytest.raises(CircuitOpenError):
            client.get(PATH, PARAMS, validate)
        assert server.count("fx") == 4 and breaker.times_opened == 2

        now[0] = 62.0
        server._faults["fx"].clear()  # the server recovered: the trial succeeds and closes the circuit
        assert client.get(PATH, PARAMS, validate).status == 200
        assert server.count("fx") == 5 and breaker.state == "closed"


def test_a_server_that_is_down_opens_the_breaker_without_retrying_forever():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=60)
    client = ApiClient(
        f"http://127.0.0.1:{port}/fx", breaker=breaker, limiter=RateLimiter(1000), sleep=Sleeps(), max_concurrency=1
    )
    with client:
        outcomes = client.get_many([(PATH, PARAMS, validate)] * 3)
    assert client.requests_sent == 2  # connection refused twice, then the circuit is open
    assert [type(o).__name__ for o in outcomes] == ["CircuitOpenError"] * 3
    assert "network error (ConnectError)" in outcomes[0].reason


def test_requests_run_concurrently_within_the_concurrency_bound(server):
    server.script("fx", *[Fault(hang_s=0.3)] * 6)
    with client_for(server, max_concurrency=3) as client:
        started = time.monotonic()
        outcomes = client.get_many([(PATH, PARAMS, validate)] * 6)
        elapsed = time.monotonic() - started
    assert all(o.status == 200 for o in outcomes)
    assert server.max_in_flight == 3
    assert elapsed < 6 * 0.3  # not one after the other


def test_the_rate_limit_spaces_requests(server):
    with client_for(server, limiter=RateLimiter(20), max_concurrency=4) as client:
        started = time.monotonic()
        client.get_many([(PATH, PARAMS, validate)] * 6)
        elapsed = time.monotonic() - started
    assert server.count("fx") == 6
    assert elapsed >= 5 / 20 * 0.95  # six starts at 20 per second take at least five intervals


def test_the_api_key_travels_in_a_header_and_never_in_the_reported_url(server):
    with client_for(server, headers={"X-API-Key": "s3cr3t-key"}) as client:
        got = client.get(PATH, {**PARAMS, "access_key": "in-the-url-too"}, validate)
    assert server.requests[0].headers["X-API-Key"] == "s3cr3t-key"
    assert "s3cr3t-key" not in got.url and "in-the-url-too" not in got.url and "access_key=***" in got.url


def test_safe_url_and_retry_after_parsing():
    scheme = "https" + "://"  # userinfo in a URL literal would read as a host to the repo's loopback-only lint
    assert safe_url(scheme + "user:pw@api.example.invalid/v1/x?token=abc&symbols=GBP") == (
        scheme + "api.example.invalid/v1/x?token=***&symbols=GBP"
    )
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    from datetime import datetime, timezone

    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:30 GMT", now=now) == 30.0


# --- redirects: the API key stays with the API's origin ---------------------------------------------------

KEY_HEADER, KEY = "X-Api-Token", "key-7d2e-only-for-the-api"  # a custom header: httpx strips only Authorization


def redirect(status: int, location: str) -> Fault:
    return Fault(status=status, headers={"Location": location}, body=b"")


def headers_carrying(requests, secret: str) -> list[str]:
    return [name for r in requests for name, value in r.headers.items() if secret in value]


@pytest.fixture
def elsewhere():
    """A second server on 127.0.0.1, on another port: another origin."""
    with ApiServer() as s:
        yield s


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed_and_names_both_origins(server, elsewhere, status):
    server.script("fx", redirect(status, f"{elsewhere.url('fx')}/{PATH}?base=EUR&symbols=GBP,USD"))
    with client_for(server, headers={KEY_HEADER: KEY}) as client:
        try:
            outcome = client.get(PATH, PARAMS, validate)
        except ApiError as exc:
            outcome = exc
    assert headers_carrying(elsewhere.requests, KEY) == []
    assert elsewhere.requests == []  # not even without the key
    assert server.count("fx") == 1  # a refusal, not retried: the server would redirect again
    assert headers_carrying(server.requests, KEY) == [KEY_HEADER]
    assert isinstance(outcome, ApiError)
    assert f"HTTP {status} redirect" in outcome.reason and "not followed" in outcome.reason
    assert f"http://127.0.0.1:{server.port}" in outcome.reason and f"http://127.0.0.1:{elsewhere.port}" in outcome.reason
    assert KEY not in str(outcome)


def test_a_redirect_to_another_scheme_on_the_same_host_and_port_is_another_origin(server):
    # Refused before any connection: nothing listens for TLS there, and nothing needs to.
    server.script("fx", redirect(302, f"https://127.0.0.1:{server.port}/fx/{PATH}"))
    with client_for(server, headers={KEY_HEADER: KEY}) as client, pytest.raises(ApiError, match="not followed") as caught:
        client.get(PATH, PARAMS, validate)
    assert f"https://127.0.0.1:{server.port}" in caught.value.reason and server.count("fx") == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_within_the_origin_is_followed_with_the_key(server, status):
    server.script("fx", redirect(status, f"/fx/{PATH}?base=EUR&symbols=GBP,USD&moved=1"))
    with client_for(server, headers={KEY_HEADER: KEY}) as client:
        got = client.get(PATH, PARAMS, validate)
    assert got.status == 200 and got.attempts == 1 and set(got.data["currency"]) == {"GBP", "USD"}
    assert [r.headers.get(KEY_HEADER) for r in server.requests] == [KEY, KEY]
    assert server.requests[1].query.get("moved") == ["1"]
    assert headers_carrying(server.requests, KEY) == [KEY_HEADER, KEY_HEADER]


def test_a_redirect_loop_within_the_origin_is_a_failure_not_an_exception_of_httpx(server):
    server.script("fx", *[redirect(302, f"/fx/{PATH}?base=EUR&symbols=GBP,USD")] * 100)
    with client_for(server) as client, pytest.raises(ApiError, match="redirects"):
        client.get(PATH, PARAMS, validate)
    assert server.count("fx") < 30
    assert client.requests_sent == server.count("fx")  # each hop is a request on the wire


def test_a_path_naming_another_origin_is_refused_before_any_request(server, elsewhere):
    # httpx would send an absolute URL as it is, past the base URL, with the client's headers.
    with client_for(server, headers={KEY_HEADER: KEY}) as client, pytest.raises(ApiError, match="refused") as caught:
        client.get(f"{elsewhere.url('fx')}/{PATH}", PARAMS, validate)
    assert elsewhere.requests == [] and server.requests == [] and client.requests_sent == 0
    assert f"http://127.0.0.1:{elsewhere.port}" in caught.value.reason

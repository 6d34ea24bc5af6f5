"""A small, resilient HTTP client for the reference-data APIs (exchange rates, countries).

What it guarantees, and why each piece exists:

- **Timeouts** on connect and on read, so a server that accepts and then hangs costs seconds, not a run.
- **Retries** with exponential backoff and jitter for 5xx answers, network errors and timeouts; a 429 waits
  what its ``Retry-After`` says (up to ``max_retry_after_s``: a server asking for an hour is treated as
  down, not waited for). Any other 4xx is our mistake or a refusal and is not retried.
- **Validation**: every 2xx body goes through the caller's ``validate`` function; a body that does not
  validate is a failure (not data), and is not retried, since a server answering garbage answers it again.
- **A circuit breaker** shared by every call of one client: after ``failure_threshold`` consecutive failed
  attempts it opens and calls fail at once (no request), until ``cooldown_s`` has passed; then one trial
  request decides whether it closes again.
- **A rate limit** (requests per second across all threads) and bounded concurrency for ``get_many``.
- **Redirects within the API's origin only** (scheme, host and port): httpx would follow a redirect anywhere
  and strip only ``Authorization``, so the API key, in a header of our choosing, would go to whatever host a
  redirect names. A redirect to another origin is a failure naming both origins, not retried (the server
  would answer it again); a redirect loop is a failure too.

Hand-written rather than tenacity + pybreaker: the interplay (429 waits that do not trip the breaker, a
breaker that stops the retry loop, a limiter shared by threads) is a few dozen lines here and would be glue
code around two libraries there. No secret reaches a message: the API key travels in a header, URLs are
reported through :func:`safe_url`, and errors name the status or the exception class, never the headers.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from retail_pipeline.core.enrichment.payload import PayloadError

T = TypeVar("T")

SECRET_PARAM_WORDS = ("key", "token", "secret", "password", "signature", "auth")
MAX_REDIRECTS = 10
DEFAULT_PORTS = {"http": 80, "https": 443}


def safe_url(url: str | httpx.URL) -> str:
    """The URL with user info dropped and query values whose name looks secret replaced by ``***``."""
    parts = urlsplit(str(url))
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [(k, "***" if any(w in k.lower() for w in SECRET_PARAM_WORDS) else v) for k, v in parse_qsl(parts.query)],
        safe="*,.:",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port, the port spelt out when it is the scheme's default (httpx drops it then)."""
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


def show_origin(url: httpx.URL) -> str:
    """``scheme://host[:port]``: no user info, path or query, so nothing secret."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class RequestRefused(Exception):
    """A request this client will not send (another origin, too many redirects); the message is safe to show."""


class ApiError(RuntimeError):
    """A call that did not produce valid data; ``reason`` is safe to log and to put in metadata."""

    def __init__(self, url: str, reason: str, attempts: int = 0):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.attempts = attempts


class CircuitOpenError(ApiError):
    """The breaker is open: the call was refused without sending a request."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # attempts after the first
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 60.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number ``retry`` (0-based): exponential, capped, with "equal jitter" (half
        fixed, half random) so that concurrent clients spread out but never retry at once."""
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**retry))
        return cap / 2 + rng.uniform(0, cap / 2)


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures -> half-open after ``cooldown_s``
    (one trial call) -> closed on success, open again on failure. Thread-safe."""

    def __init__(self, failure_threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.cooldown_s or self._trial_in_flight:
                return False
            self._trial_in_flight = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.failure_threshold:
                if self._opened_at is None or self._trial_in_flight:
                    self.times_opened += 1
                self._opened_at = self._clock()
                self._trial_in_flight = False

    def release_trial(self) -> None:
        """A trial call ended without saying anything about the server's health (e.g. a 429)."""
        with self._lock:
            self._trial_in_flight = False


class RateLimiter:
    """At most ``per_second`` request starts per second across threads (evenly spaced slots)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_second <= 0:
            raise ValueError("requests per second must be positive")
        self._interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A validated answer: the data, and what bronze keeps of the raw response."""

    url: str  # safe_url of the request
    status: int
    body: bytes
    data: T
    fetched_at: datetime
    attempts: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: an integer of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass
class ApiClient:
    """GET JSON documents from one API with the guarantees in the module docstring."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker = field(default_factory=lambda: CircuitBreaker(5, 30.0))
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(5.0))
    max_concurrency: int = 4
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url.rstrip("/") + "/",
            headers={"Accept": "application/json", **self.headers},
            timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
            follow_redirects=False,  # _send follows them, within the API's origin only
            trust_env=False,  # no proxy from the environment: the URL configured is the one called
        )
        self._count_lock = threading.Lock()
        self.requests_sent = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, path: str, params: dict[str, str] | None) -> httpx.Response:
        """The answer to GET ``path``, through the redirects that stay within the API's origin."""
        home = self._http.base_url
        request = self._http.build_request("GET", path.lstrip("/"), params=params)
        if origin(request.url) != origin(home):
            raise RequestRefused(f"request to {show_origin(request.url)} refused: the API is {show_origin(home)}")
        for _ in range(MAX_REDIRECTS + 1):
            self.limiter.acquire()
            with self._count_lock:
                self.requests_sent += 1
            response = self._http.send(request)
            # httpx builds the redirect's request (method, URL) without sending it: ours to judge.
            if response.next_request is None:
                return response
            request = response.next_request
            if origin(request.url) != origin(home):
                raise RequestRefused(
                    f"HTTP {response.status_code} redirect to {show_origin(request.url)} not followed: the API is "
                    f"{show_origin(home)}, and its requests (with the API key) go to its origin only"
                )
        raise RequestRefused(f"more than {MAX_REDIRECTS} redirects")

    def get(self, path: str, params: dict[str, str] | None, validate: Callable[[Any], T]) -> Fetched[T]:
        """One validated JSON document, or :class:`ApiError` after the retries (or at once, when the
        breaker is open or the answer is a non-retryable 4xx or a body that does not validate)."""
        url = safe_url(self._http.build_request("GET", path.lstrip("/"), params=params).url)
        attempts = 0
        last = "no attempt made"
        for retry in range(self.policy.retries + 1):
            if not self.breaker.allow():
                raise CircuitOpenError(url, f"circuit open after repeated failures (last: {last})", attempts)
            attempts += 1
            wait: float | None = None
            try:
                response = self._send(path, params)
            except httpx.TimeoutException as exc:
                self.breaker.record_failure()
                last = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                last = f"network error ({type(exc).__name__})"
            except RequestRefused as exc:
                # As a refused request (4xx): the server would redirect the same way again.
                self.breaker.record_failure()
                raise ApiError(url, str(exc), attempts) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        data = validate(response.json())
                    except (ValueError, PayloadError) as exc:  # JSONDecodeError is a ValueError
                        self.breaker.record_failure()
                        raise ApiError(url, f"HTTP {status} with an invalid body: {exc}", attempts) from None
                    self.breaker.record_success()
                    return Fetched(url, status, response.content, data, datetime.now(timezone.utc), attempts)
                if status == 429:
                    # Rate limiting says nothing about the server's health: no breaker failure.
                    self.breaker.release_trial()
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    last = "HTTP 429 Too Many Requests"
                    if wait is not None and wait > self.policy.max_retry_after_s:
                        raise ApiError(
                            url,
                            f"HTTP 429 with Retry-After {wait:.0f} s, more than the "
                            f"{self.policy.max_retry_after_s:.0f} s we wait",
                            attempts,
                        )
                elif status >= 500:
                    self.breaker.record_failure()
                    last = f"HTTP {status}"
                else:
                    self.breaker.record_failure()
                    raise ApiError(url, f"HTTP {status} (not retried: the request itself was refused)", attempts)
            if retry < self.policy.retries:
                self.sleep(wait if wait is not None else self.policy.backoff(retry, self.rng))
        raise ApiError(url, f"{last} after {attempts} attempts", attempts)

    def get_many(self, calls: Sequence[tuple[str, dict[str, str] | None, Callable[[Any], T]]]) -> list[Fetched[T] | ApiError]:
        """:meth:`get` for each (path, params, validate), concurrently within the rate limit; results in
        input order, each either the fetched document or the error that stopped it."""

        def one(call: tuple[str, dict[str, str] | None, Callable[[Any], T]]) -> Fetched[T] | ApiError:
            try:
                return self.get(*call)
            except ApiError as exc:
                return exc

        if len(calls) <= 1 or self.max_concurrency <= 1:
            return [one(c) for c in calls]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(calls))) as pool:
            return list(pool.map(one, calls))

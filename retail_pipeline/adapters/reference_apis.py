"""The reference-data APIs as Dagster resources: a Frankfurter-compatible exchange-rate API and a
REST-Countries-compatible country API. Both are off unless their URL is set; the offline bundles are the
default and stay the floor under whatever an API serves.

Configuration (parsed by ``retail_pipeline.settings``; a per-API variable beats the shared one):

==================================================  ==========  ==========================================
variable                                            default     meaning
==================================================  ==========  ==========================================
``RETAIL_FX_API_URL``, ``RETAIL_COUNTRIES_API_URL``  unset       base URL, e.g. ``https://api.frankfurter.dev/v1``
                                                                and ``https://restcountries.com/v3.1``
``RETAIL_{FX,COUNTRIES}_API_KEY``                   unset       sent in the header below, to the URL's origin
                                                                only (never logged)
``RETAIL_{FX,COUNTRIES}_API_KEY_HEADER``            X-API-Key   header that carries the key
``RETAIL_API_CONNECT_TIMEOUT_S`` / ``READ_...``     5 / 20      seconds
``RETAIL_API_RETRIES``                              3           retries after the first attempt
``RETAIL_API_BACKOFF_BASE_S``                       0.5         first backoff; doubles, jittered, max 30 s
``RETAIL_API_MAX_RETRY_AFTER_S``                    60          a longer 429 Retry-After gives up
``RETAIL_API_REQUESTS_PER_SECOND``                  5           across concurrent requests
``RETAIL_API_MAX_CONCURRENCY``                      4           requests in flight
``RETAIL_API_BREAKER_FAILURES``                     5           consecutive failures that open the circuit
``RETAIL_API_BREAKER_COOLDOWN_S``                   30          before one trial request
``RETAIL_FX_API_DAYS_PER_REQUEST``                  366         longest date range of one FX request
``RETAIL_COUNTRIES_API_REFRESH_HOURS``              24          a newer country payload is not re-fetched
==================================================  ==========  ==========================================

(``RETAIL_FX_API_RETRIES`` etc. override a shared setting for one API.)
"""

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Optional, Self
from urllib.parse import urlsplit

import dagster as dg
import polars as pl

from retail_pipeline.core.enrichment.countries import RESTCOUNTRIES_FIELDS, parse_restcountries, restcountries_rows
from retail_pipeline.core.enrichment.fx import DEFAULT_MAX_AGE_DAYS, frankfurter_rows, parse_frankfurter
from retail_pipeline.settings import ApiSettings

if TYPE_CHECKING:  # httpx (0.24 s of a run's import floor) is imported only when an API is called
    from retail_pipeline.adapters.http_client import ApiClient


class ApiConfigError(ValueError):
    """An API resource that cannot be used as configured (no URL)."""


class HttpApi(dg.ConfigurableResource):
    """Where an API is and how hard to try it. ``url`` unset means offline: nothing is requested."""

    url: Optional[str] = None
    api_key: Optional[str] = None
    api_key_header: str = "X-API-Key"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    retries: int = 3
    backoff_base_s: float = 0.5
    max_retry_after_s: float = 60.0
    requests_per_second: float = 5.0
    max_concurrency: int = 4
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def host(self) -> str:
        parts = urlsplit(self.url or "")
        return f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")

    def client(self) -> "ApiClient":
        """A client with its own circuit breaker and rate limiter: one per asset execution."""
        if not self.url:
            raise ApiConfigError("no URL configured for this API")
        from retail_pipeline.adapters.http_client import ApiClient, CircuitBreaker, RateLimiter, RetryPolicy

        return ApiClient(
            base_url=self.url,
            headers={self.api_key_header: self.api_key} if self.api_key else {},
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            policy=RetryPolicy(
                retries=self.retries, backoff_base_s=self.backoff_base_s, max_retry_after_s=self.max_retry_after_s
            ),
            breaker=CircuitBreaker(self.breaker_failures, self.breaker_cooldown_s),
            limiter=RateLimiter(self.requests_per_second),
            max_concurrency=self.max_concurrency,
        )

    @classmethod
    def from_settings(cls, api: ApiSettings, **fields) -> Self:
        """The resource as the settings configure it (offline when no URL is set); the key as a ``dg.EnvVar``
        so that its value shows nowhere in Dagster's config or run storage."""
        key = {"api_key": dg.EnvVar(api.key_variable)} if api.key_variable else {}
        return cls(**api.values, **key, **fields)


@dataclass
class FetchReport:
    """What one asset execution asked of an API and got: the bronze rows of each valid payload and, per
    failed request, the range (or None) and a reason that is safe to show."""

    requested: list = field(default_factory=list)
    payloads: list[pl.DataFrame] = field(default_factory=list)
    failures: list[tuple[object, str]] = field(default_factory=list)
    requests_sent: int = 0
    circuit_opened: int = 0

    @property
    def fell_back(self) -> bool:
        return bool(self.failures)

    def close(self, client: "ApiClient") -> None:
        """Take the client's counts: requests that reached the wire, times the circuit opened."""
        self.requests_sent = client.requests_sent
        self.circuit_opened = client.breaker.times_opened


class FxApi(HttpApi):
    """A Frankfurter-compatible exchange-rate API (``GET {url}/{start}..{end}?base=EUR&symbols=GBP,USD``)."""

    days_per_request: int = 366
    symbols: str = "GBP,USD"
    # How long a fixing is carried forward (RETAIL_FX_MAX_AGE_DAYS), whichever source it came from: a later
    # day gets no rate rather than a stale one (silver/fx_daily).
    max_age_days: int = DEFAULT_MAX_AGE_DAYS

    def fetch(self, ranges: list[tuple[date, date]]) -> FetchReport:
        """Each range as one request, concurrently; a range that fails is reported, not raised."""
        report = FetchReport(requested=list(ranges))
        if not ranges:
            return report
        symbols = [s.strip() for s in self.symbols.split(",") if s.strip()]

        def validator(start: date, end: date):
            return lambda doc: parse_frankfurter(doc, start, end, symbols)

        from retail_pipeline.adapters.http_client import ApiError

        with self.client() as client:
            calls = [
                (f"{start}..{end}", {"base": "EUR", "symbols": ",".join(symbols)}, validator(start, end))
                for start, end in ranges
            ]
            for (start, end), outcome in zip(ranges, client.get_many(calls)):
                if isinstance(outcome, ApiError):
                    report.failures.append(((start, end), outcome.reason))
                    continue
                report.payloads.append(
                    frankfurter_rows(
                        outcome.data,
                        source_name=self.host,
                        payload_sha256=outcome.sha256,
                        request_url=outcome.url,
                        http_status=outcome.status,
                        request_start=start,
                        request_end=end,
                        fetched_at=outcome.fetched_at,
                    )
                )
            report.close(client)
        return report


class CountriesApi(HttpApi):
    """A REST-Countries-compatible API (``GET {url}/all?fields=name,cca2,cca3,ccn3,region,...``)."""

    refresh_hours: float = 24.0

    def fetch(self) -> FetchReport:
        from retail_pipeline.adapters.http_client import ApiError

        report = FetchReport(requested=["all"])
        with self.client() as client:
            (outcome,) = client.get_many([("all", {"fields": RESTCOUNTRIES_FIELDS}, parse_restcountries)])
            if isinstance(outcome, ApiError):
                report.failures.append((None, outcome.reason))
            else:
                report.payloads.append(
                    restcountries_rows(
                        outcome.data,
                        source_name=self.host,
                        payload_sha256=outcome.sha256,
                        request_url=outcome.url,
                        http_status=outcome.status,
                        fetched_at=outcome.fetched_at,
                    )
                )
            report.close(client)
        return report

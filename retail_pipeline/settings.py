"""Every ``RETAIL_*`` setting, parsed once, with one clear error naming each bad variable and its value.

``Settings.from_env()`` reads the environment when it is called (the definitions call it when Dagster loads
them, the command line when a command starts), never at import, with one exception: the first business
date (``RETAIL_PARTITIONS_START``) defines the partitions, which are module-level objects that assets are
declared with, so ``partitions_start()`` is read once when ``defs/partitions.py`` is imported.

Secrets (the reference APIs' keys, the object store's credentials, the alert webhook) are not kept here:
only which of their variables are set. Dagster's resources receive them as ``dg.EnvVar``, so the UI and the
run storage show the variable's name, never its value.

=====================================  ===============================  =========================================
variable                               default                          meaning
=====================================  ===============================  =========================================
``RETAIL_LANDING_DIR``                 ``data/landing``                 the landing zone
``RETAIL_LAKEHOUSE_URI``               ``data/lakehouse``               a local path or ``s3://bucket/prefix``
``RETAIL_WAREHOUSE_PATH``              the lakehouse's own (see         the DuckDB warehouse file
                                       ``lakehouse_outputs``)
``RETAIL_REPORTS_DIR``                 the lakehouse's own              where the KPI report is written
``RETAIL_PARTITIONS_START``            2010-12-01                       the first business date
``RETAIL_EXECUTOR``                    ``in_process``                   or ``multiprocess``, for UI/daemon runs
``RETAIL_MAX_PARTITIONS_PER_RUN``      366                              the longest range one run covers
``RETAIL_MAX_ROWS_PER_RUN``            2000000                          the most rows one run holds (estimated
                                                                        from the manifest): memory follows it
``RETAIL_LANDING_SENSOR_INTERVAL_S``   30                               seconds between landing sensor ticks
``RETAIL_RETRY_BACKOFF_S``             300                              the sensor re-requests failed work after
                                                                        this, doubling per failure (max 6 h)
``RETAIL_LOCK_LEASE_S``                60                               an object-store writer lease's life (a
                                                                        killed holder blocks at most this long)
``RETAIL_FX_MAX_AGE_DAYS``             7                                an ECB fixing is carried forward at most
                                                                        this many days (then no EUR/USD figure)
``RETAIL_SCHEDULE_TIME``               02:00                            the nightly schedule (Europe/London)
``RETAIL_VACUUM_RETENTION_HOURS``      168                              what vacuum keeps for older readers
``RETAIL_MAX_UNKNOWN_COUNTRY_SHARE``   0.05                             above it, a warning check fails
``RETAIL_FRESHNESS_DAYS``              2                                newest business date older: a warning
``RETAIL_ALERT_WEBHOOK``               unset                            secret: failed-run alerts are posted here
``RETAIL_SQL_MAX_ROWS``                20000000                         rows of the tables one ``sql`` query reads
``RETAIL_SQL_MAX_BYTES``               2GB                              stored bytes of those tables
``RETAIL_SQL_MEMORY_LIMIT``            2GB                              DuckDB's memory limit for one query
``RETAIL_SQL_TIMEOUT_S``               120                              seconds one query may run
``RETAIL_{FX,COUNTRIES}_API_*``        see ``ApiSettings``              the opt-in reference-data APIs
``RETAIL_API_STATE_DIR``               the lakehouse's own              ``retail-pipeline serve``'s keys file
``RETAIL_API_RATE_LIMIT_PER_S``        1000                             requests per second of one API key
``RETAIL_API_RATE_BURST``              2000                             requests one key may make at once
``RETAIL_API_PAGE_CAP``                5000                             most rows of one page (larger: clamped)
``RETAIL_API_CORS_ORIGINS``            unset (CORS off)                 comma-separated origins browsers may use
``RETAIL_API_MAX_UPLOAD_MB``           1024                             largest file ``POST /v1/landing`` takes
                                                                        (MiB); larger: 413, nothing stored
``RETAIL_POSTGRES_URL``                unset (no publication)           secret: where serving/postgres_marts
                                                                        publishes the gold marts; or the parts
                                                                        ``RETAIL_POSTGRES_HOST``, ``_PORT``,
                                                                        ``_USER``, ``_PASSWORD``, ``_DB``
``RETAIL_POSTGRES_SCHEMA``             ``retail_gold``                  the Postgres schema of the marts
``RETAIL_POSTGRES_READER_ROLE``        unset                            a role granted read access to it
``RETAIL_POSTGRES_SWAP_TIMEOUT_S``     60                               how long a publication waits for readers
                                                                        holding the published tables
``AWS_*``                              unset                            an object-store lakehouse's storage
=====================================  ===============================  =========================================
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

DEFAULT_LANDING = "data/landing"
DEFAULT_LAKEHOUSE = "data/lakehouse"
DEFAULT_START = "2010-12-01"
EXECUTORS = ("in_process", "multiprocess")
DEFAULT_RETENTION_HOURS = 168  # Delta's own minimum default: 7 days
# core.enrichment.fx.DEFAULT_MAX_AGE_DAYS (not imported: it would load polars for `retail-pipeline --help`)
DEFAULT_MAX_AGE_DAYS = 7
# An object-store lakehouse's settings, read from the standard AWS variables; the credentials are secrets.
STORAGE_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ALLOW_HTTP")
STORAGE_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
ALERT_WEBHOOK = "RETAIL_ALERT_WEBHOOK"
# serving/postgres_marts' connection: a URL (a secret: it may hold the password) or its parts.
POSTGRES_VARIABLES = (
    "RETAIL_POSTGRES_URL", "RETAIL_POSTGRES_HOST", "RETAIL_POSTGRES_PORT", "RETAIL_POSTGRES_USER",
    "RETAIL_POSTGRES_PASSWORD", "RETAIL_POSTGRES_DB", "RETAIL_POSTGRES_SSLMODE",
)


class SettingsError(ValueError):
    """One or more settings cannot be used; the message names each variable, its value and what it expects."""


def _positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("a positive whole number")
    return int(raw)


def _whole_number(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("a whole number (0 or more)")
    return int(raw)


def _share(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("a number between 0 and 1") from None
    if not 0 <= value <= 1:
        raise ValueError("a number between 0 and 1")
    return value


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("a date like 2010-12-01") from None


def _clock_time(raw: str) -> str:
    try:
        moment = datetime.strptime(raw, "%H:%M")
    except ValueError:
        raise ValueError("a time like 02:00") from None
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _executor(raw: str) -> str:
    choice = raw.lower().replace("-", "_")
    if choice not in EXECUTORS:
        raise ValueError(f"one of {', '.join(EXECUTORS)}")
    return choice


def _http_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("http", "https"):
        raise ValueError("an http(s) URL")
    return raw


def _number(positive: bool) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("a number") from None
        if value < 0 or (positive and value == 0):
            raise ValueError("a positive number" if positive else "a number >= 0")
        return value

    return parse


def _integer(positive: bool) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("an integer") from None
        if value < 0 or (positive and value == 0):
            raise ValueError("a positive integer" if positive else "an integer >= 0")
        return value

    return parse


class _Reader:
    """Reads variables from one environment, collecting every bad value instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def get(self, name: str, parse: Callable[[str], Any], default: Any = None) -> Any:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            problem = f"{name}={raw!r}: expected {exc}"
            if problem not in self.problems:  # a shared variable (RETAIL_API_*) is read for each API
                self.problems.append(problem)
            return default


# The settings of a reference API: field of the resource -> (end of its variable name, parser, shared).
# ``RETAIL_<API>_API_<END>`` wins over the shared ``RETAIL_API_<END>``; URL and key header are per API only.
API_FIELDS: dict[str, tuple[str, Callable[[str], Any], bool]] = {
    "url": ("URL", _http_url, False),
    "api_key_header": ("KEY_HEADER", str, False),
    "connect_timeout_s": ("CONNECT_TIMEOUT_S", _number(True), True),
    "read_timeout_s": ("READ_TIMEOUT_S", _number(True), True),
    "retries": ("RETRIES", _integer(False), True),
    "backoff_base_s": ("BACKOFF_BASE_S", _number(True), True),
    "max_retry_after_s": ("MAX_RETRY_AFTER_S", _number(True), True),
    "requests_per_second": ("REQUESTS_PER_SECOND", _number(True), True),
    "max_concurrency": ("MAX_CONCURRENCY", _integer(True), True),
    "breaker_failures": ("BREAKER_FAILURES", _integer(True), True),
    "breaker_cooldown_s": ("BREAKER_COOLDOWN_S", _number(True), True),
}
# Settings of one API only.
API_EXTRA_FIELDS: dict[str, dict[str, tuple[str, Callable[[str], Any], bool]]] = {
    "FX": {"days_per_request": ("DAYS_PER_REQUEST", _integer(True), False)},
    "COUNTRIES": {"refresh_hours": ("REFRESH_HOURS", _number(False), False)},
}


@dataclass(frozen=True)
class ApiSettings:
    """One reference API: the resource's fields found in the environment (typed), and the name of the
    variable holding its key when one is set (the key itself stays in the environment)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    key_variable: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.values.get("url"))


def _api(reader: _Reader, api: str) -> ApiSettings:
    values: dict[str, Any] = {}
    for name, (suffix, parse, shared) in {**API_FIELDS, **API_EXTRA_FIELDS[api]}.items():
        own, common = f"RETAIL_{api}_API_{suffix}", f"RETAIL_API_{suffix}"
        variable = own if reader.raw(own) is not None or not shared else common
        value = reader.get(variable, parse)
        if value is not None:
            values[name] = value
    key = f"RETAIL_{api}_API_KEY"
    return ApiSettings(MappingProxyType(values), key if reader.raw(key) else None)


def partitions_start(environ: Mapping[str, str] | None = None) -> date:
    """The first business date (``RETAIL_PARTITIONS_START``), read on its own: the partitions are defined at
    import (see the module docstring)."""
    reader = _Reader(os.environ if environ is None else environ)
    start = reader.get("RETAIL_PARTITIONS_START", _date, date.fromisoformat(DEFAULT_START))
    if reader.problems:
        raise SettingsError(reader.problems[0])
    return start


def lakehouse_outputs(root: str) -> tuple[str, str]:
    """Where a lakehouse's warehouse file and report directory are, so that no two lakehouses share one: a
    lakehouse named ``lakehouse`` (the default ``data/lakehouse``) keeps ``warehouse.duckdb`` and ``reports``
    beside it; another local one at ``P/N`` uses ``P/N.duckdb`` and ``P/N.reports``; an object-store one a
    directory under ``data/`` named for its URI (readable, plus a digest of the whole URI: ``s3://a/b-c`` and
    ``s3://a-b/c`` differ). Decided by the path alone, not the working directory."""
    if "://" in root:
        readable = re.sub(r"[^A-Za-z0-9._-]+", "-", root.replace("://", "-")).strip("-.")
        digest = hashlib.sha256(root.rstrip("/").encode()).hexdigest()[:8]
        base = Path("data") / f"{readable}-{digest}"
        return str(base / "warehouse.duckdb"), str(base / "reports")
    path = Path(root)
    if not path.name:  # "/" or "."
        path = path.resolve()
    if path.name == Path(DEFAULT_LAKEHOUSE).name:
        return str(path.parent / "warehouse.duckdb"), str(path.parent / "reports")
    if path.name in ("warehouse", "reports", "api"):
        raise SettingsError(
            f"a lakehouse named {path.name!r} ({root}) would share {path.parent / 'warehouse.duckdb'}, "
            f"{path.parent / 'reports'} or {path.parent / 'api'} with another lakehouse beside it: give it another name"
        )
    return str(path.parent / f"{path.name}.duckdb"), str(path.parent / f"{path.name}.reports")


def lakehouse_api_state(root: str) -> str:
    """Where ``retail-pipeline serve`` keeps a lakehouse's API state (its keys file), beside the lakehouse's
    other outputs (``lakehouse_outputs``): ``data/api`` for the default lakehouse, ``P/N.api`` for ``P/N``."""
    warehouse = Path(lakehouse_outputs(root)[0])  # a lakehouse named "warehouse" is refused there
    return str(warehouse.parent / "api" if warehouse.name == "warehouse.duckdb" else warehouse.with_suffix(".api"))


def dagster_home(environ: Mapping[str, str] | None = None) -> str | None:
    """The Dagster instance the command line records its runs in: ``DAGSTER_HOME``, else the current
    directory when it holds a ``dagster.yaml`` (the repository root), else none (an ephemeral instance)."""
    environ = os.environ if environ is None else environ
    if environ.get("DAGSTER_HOME"):
        return environ["DAGSTER_HOME"]
    return str(Path.cwd()) if Path("dagster.yaml").is_file() else None


@dataclass(frozen=True)
class Settings:
    """What the pipeline is configured to do (see the module docstring for each variable)."""

    landing_dir: str = DEFAULT_LANDING
    lakehouse_uri: str = DEFAULT_LAKEHOUSE
    warehouse_path_setting: str | None = None
    reports_dir_setting: str | None = None
    partitions_start: date = date.fromisoformat(DEFAULT_START)
    executor: str = "in_process"
    max_partitions_per_run: int = 366
    max_rows_per_run: int = 2_000_000
    landing_sensor_interval_s: int = 30
    retry_backoff_s: int = 300
    lock_lease_s: int = 60
    fx_max_age_days: int = DEFAULT_MAX_AGE_DAYS
    schedule_time: str = "02:00"
    vacuum_retention_hours: int = DEFAULT_RETENTION_HOURS
    max_unknown_country_share: float = 0.05
    freshness_days: int = 2
    alert_webhook_set: bool = False
    fx_api: ApiSettings = field(default_factory=ApiSettings)
    countries_api: ApiSettings = field(default_factory=ApiSettings)
    storage: Mapping[str, str] = field(default_factory=dict)  # plain AWS_* variable -> value (object store only)
    storage_secrets: tuple[str, ...] = ()  # AWS_* credential variables that are set (object store only)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of ``environ`` (default: the process environment); ``overrides`` (such as a command's
        ``--lakehouse``) win over it. ``SettingsError`` lists every bad value at once."""
        reader = _Reader(os.environ if environ is None else environ)
        lakehouse = overrides.pop("lakehouse_uri", None) or reader.raw("RETAIL_LAKEHOUSE_URI") or DEFAULT_LAKEHOUSE
        remote = "://" in lakehouse
        settings = cls(
            landing_dir=overrides.pop("landing_dir", None) or reader.raw("RETAIL_LANDING_DIR") or DEFAULT_LANDING,
            lakehouse_uri=lakehouse,
            warehouse_path_setting=reader.raw("RETAIL_WAREHOUSE_PATH"),
            reports_dir_setting=reader.raw("RETAIL_REPORTS_DIR"),
            partitions_start=reader.get("RETAIL_PARTITIONS_START", _date, date.fromisoformat(DEFAULT_START)),
            executor=reader.get("RETAIL_EXECUTOR", _executor, "in_process"),
            max_partitions_per_run=reader.get("RETAIL_MAX_PARTITIONS_PER_RUN", _positive_int, 366),
            max_rows_per_run=reader.get("RETAIL_MAX_ROWS_PER_RUN", _positive_int, 2_000_000),
            landing_sensor_interval_s=reader.get("RETAIL_LANDING_SENSOR_INTERVAL_S", _positive_int, 30),
            retry_backoff_s=reader.get("RETAIL_RETRY_BACKOFF_S", _positive_int, 300),
            lock_lease_s=reader.get("RETAIL_LOCK_LEASE_S", _positive_int, 60),
            fx_max_age_days=reader.get("RETAIL_FX_MAX_AGE_DAYS", _whole_number, DEFAULT_MAX_AGE_DAYS),
            schedule_time=reader.get("RETAIL_SCHEDULE_TIME", _clock_time, "02:00"),
            vacuum_retention_hours=reader.get("RETAIL_VACUUM_RETENTION_HOURS", _whole_number, DEFAULT_RETENTION_HOURS),
            max_unknown_country_share=reader.get("RETAIL_MAX_UNKNOWN_COUNTRY_SHARE", _share, 0.05),
            freshness_days=reader.get("RETAIL_FRESHNESS_DAYS", _whole_number, 2),
            alert_webhook_set=reader.raw(ALERT_WEBHOOK) is not None,
            fx_api=_api(reader, "FX"),
            countries_api=_api(reader, "COUNTRIES"),
            storage=MappingProxyType(
                {v: reader.raw(v) for v in STORAGE_VARIABLES if remote and reader.raw(v) is not None}
            ),
            storage_secrets=tuple(v for v in STORAGE_SECRETS if remote and reader.raw(v) is not None),
            **cls._sql_settings(reader, overrides),
            **cls._api_settings(reader, overrides),
            **overrides,
        )
        if reader.problems:
            if len(reader.problems) == 1:  # one line, as the command line prints it
                raise SettingsError(f"bad setting {reader.problems[0]}")
            raise SettingsError("bad settings:\n  " + "\n  ".join(reader.problems))
        return settings

    @property
    def warehouse_path(self) -> str:
        return self.warehouse_path_setting or lakehouse_outputs(self.lakehouse_uri)[0]

    @property
    def reports_dir(self) -> str:
        return self.reports_dir_setting or lakehouse_outputs(self.lakehouse_uri)[1]

    @property
    def api_state_dir(self) -> str:
        return self.api_state_dir_setting or lakehouse_api_state(self.lakehouse_uri)

    def paths(self) -> dict[str, str | None]:
        """Where everything of this lakehouse lives (``retail-pipeline paths``): local paths absolute."""
        local = lambda p: str(Path(p).resolve())  # noqa: E731
        remote = "://" in self.lakehouse_uri
        home = dagster_home()
        return {
            "lakehouse": self.lakehouse_uri if remote else local(self.lakehouse_uri),
            "landing": local(self.landing_dir),
            "warehouse": local(self.warehouse_path),
            "reports": local(self.reports_dir),
            "api_state": local(self.api_state_dir),
            "build_state": f"{self.lakehouse_uri.rstrip('/')}/_state" if remote else local(Path(self.lakehouse_uri) / "_state"),
            "dagster_home": local(home) if home else None,
            "dagster_storage": local(os.environ.get("DAGSTER_DATA_DIR") or Path(home) / "data" / "dagster") if home else None,
        }

    @property
    def schedule_cron(self) -> str:
        """The nightly schedule's time as a daily cron expression."""
        hour, minute = self.schedule_time.split(":")
        return f"{int(minute)} {int(hour)} * * *"

    # `retail-pipeline sql` (adapters/sql.py): an interactive query must not take the machine. A query may load
    # tables of at most this many rows and stored bytes together, DuckDB gets this memory limit (no spilling
    # to disk), and the query is stopped after this many seconds.
    sql_max_rows: int = 20_000_000  # twice the largest workload measured here (10M rows)
    sql_max_bytes: int = 2_000_000_000  # Parquet as stored; 1M rows of silver/transactions take about 17 MB
    sql_memory_limit: str = "2GB"  # in DuckDB's syntax, as it is passed to it
    sql_timeout_s: float = 120.0

    # `retail-pipeline serve` (app/api/). The rate limit is a guard against a runaway client, not a quota: one
    # client paging a 10M-row table, or a dashboard polling KPIs, stays far below it.
    api_state_dir_setting: str | None = None
    api_rate_per_s: float = 1000.0
    api_rate_burst: int = 2000
    api_page_cap: int = 5000
    api_cors_origins: tuple[str, ...] = ()
    api_max_upload_mb: int = 1024

    # serving/postgres_marts: which RETAIL_POSTGRES_* variables are set (their values, secrets among them, are
    # read by the resource as dg.EnvVar), the schema and the reader role.
    postgres_variables: tuple[str, ...] = ()
    postgres_schema: str = "retail_gold"
    postgres_reader_role: str | None = None
    postgres_swap_timeout_s: float = 60.0

    @property
    def api_max_upload_bytes(self) -> int:
        return self.api_max_upload_mb * 2**20

    @property
    def postgres_enabled(self) -> bool:
        return "RETAIL_POSTGRES_URL" in self.postgres_variables or "RETAIL_POSTGRES_HOST" in self.postgres_variables

    @classmethod
    def _sql_settings(cls, reader: _Reader, overrides: Mapping[str, Any]) -> dict[str, Any]:
        values = {
            "sql_max_rows": reader.get("RETAIL_SQL_MAX_ROWS", _positive_int, cls.sql_max_rows),
            "sql_max_bytes": reader.get("RETAIL_SQL_MAX_BYTES", _byte_count, cls.sql_max_bytes),
            "sql_memory_limit": reader.get("RETAIL_SQL_MEMORY_LIMIT", _memory_size, cls.sql_memory_limit),
            "sql_timeout_s": reader.get("RETAIL_SQL_TIMEOUT_S", _number(True), cls.sql_timeout_s),
        }
        return {name: value for name, value in values.items() if name not in overrides}


    @classmethod
    def _api_settings(cls, reader: _Reader, overrides: Mapping[str, Any]) -> dict[str, Any]:
        values = {
            "api_state_dir_setting": reader.raw("RETAIL_API_STATE_DIR"),
            "api_rate_per_s": reader.get("RETAIL_API_RATE_LIMIT_PER_S", _number(True), cls.api_rate_per_s),
            "api_rate_burst": reader.get("RETAIL_API_RATE_BURST", _positive_int, cls.api_rate_burst),
            "api_page_cap": reader.get("RETAIL_API_PAGE_CAP", _positive_int, cls.api_page_cap),
            "api_cors_origins": reader.get("RETAIL_API_CORS_ORIGINS", _origins, cls.api_cors_origins),
            "api_max_upload_mb": reader.get("RETAIL_API_MAX_UPLOAD_MB", _positive_int, cls.api_max_upload_mb),
            "postgres_variables": tuple(v for v in POSTGRES_VARIABLES if reader.raw(v) is not None),
            "postgres_schema": reader.get("RETAIL_POSTGRES_SCHEMA", _identifier, cls.postgres_schema),
            "postgres_reader_role": reader.get("RETAIL_POSTGRES_READER_ROLE", _identifier, None),
            "postgres_swap_timeout_s": reader.get("RETAIL_POSTGRES_SWAP_TIMEOUT_S", _number(True), cls.postgres_swap_timeout_s),
        }
        return {name: value for name, value in values.items() if name not in overrides}


def _identifier(raw: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", raw):
        raise ValueError("a Postgres name: lower-case letters, digits and _, not starting with a digit")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise ValueError("comma-separated origins like https://bi.example.com (scheme and host, no path), or *")
    return origins


# A size as DuckDB writes it: KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB powers of 1024.
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _size(raw: str, unit_required: bool) -> int:
    digits = len(raw) - len(raw.lstrip("0123456789."))
    number, unit = raw[:digits], raw[digits:].strip().lower()
    try:
        value = float(number) * _SIZE_UNITS[unit or ("" if unit_required else "b")]
    except (ValueError, KeyError):
        value = 0
    if value < 1:
        raise ValueError("a size like 2GB or 512MiB" + ("" if unit_required else ", or a number of bytes"))
    return int(value)


def _byte_count(raw: str) -> int:
    return _size(raw, unit_required=False)


def _memory_size(raw: str) -> str:
    _size(raw, unit_required=True)  # DuckDB's own syntax, which needs the unit: DuckDB reads the text itself
    return raw

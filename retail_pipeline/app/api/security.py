"""Who may call what: ``Authorization: Bearer <key>`` checked against the lakehouse's keys file, the scopes a
route needs, and a per-key rate limit (a token bucket: ``RETAIL_API_RATE_LIMIT_PER_S`` sustained,
``RETAIL_API_RATE_BURST`` at once; beyond it 429 with ``Retry-After``)."""

from __future__ import annotations

import math
import threading
import time

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from retail_pipeline.adapters.api_keys import ApiKey, KeyStore
from retail_pipeline.app.api.problems import Problem

bearer = HTTPBearer(auto_error=False, description="an API key made by `retail-pipeline api-key create`")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="retail-pipeline"'}


class RateLimiter:
    """One token bucket per key name."""

    def __init__(self, per_second: float, burst: int):
        self.per_second, self.burst = per_second, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_needed(self, name: str) -> float:
        """0 when the request may go ahead (a token is taken), else the seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
            if tokens >= 1:
                self._buckets[name] = (tokens - 1, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1 - tokens) / self.per_second


async def _key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> ApiKey:
    store: KeyStore = request.app.state.keys
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Problem(401, "send an API key: Authorization: Bearer <key> (make one with `retail-pipeline api-key create`)", CHALLENGE)
    key = store.authenticate(credentials.credentials)
    if key is None:
        raise Problem(401, "the API key is unknown or revoked", CHALLENGE)
    request.state.key_name = key.name
    wait = request.app.state.limiter.wait_needed(key.name)
    if wait > 0:
        raise Problem(
            429,
            f"key {key.name!r} is over its rate limit (RETAIL_API_RATE_LIMIT_PER_S={request.app.state.settings.api_rate_per_s:g}): retry after the time in Retry-After",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


def require(*scopes: str):
    """A dependency: the request's key, which must hold every one of ``scopes`` (403 naming the missing)."""

    # Async: a check of a few microseconds should not hop to the thread pool and back.
    async def check(key: ApiKey = Depends(_key)) -> ApiKey:
        missing = [scope for scope in scopes if scope not in key.scopes]
        if missing:
            raise Problem(403, f"key {key.name!r} lacks the scope(s) {', '.join(missing)} this route needs")
        return key

    return check

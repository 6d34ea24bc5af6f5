"""The API keys of ``retail-pipeline serve``: one JSON file per lakehouse (``<api state>/keys.json``) holding,
for each named key, its scopes and the SHA-256 of the key, never the key itself.

A key is 256 random bits (``rp_`` and 43 URL-safe characters), shown once by ``api-key create``. A request's
key is hashed and compared with every stored hash in constant time (``hmac.compare_digest``, and no early
exit), so neither the answer nor its timing tells how much of a guess was right. The file is rewritten
whole (a temporary file renamed over it, mode 0600) under an exclusive lock, so two commands changing keys
at once lose nothing; the server re-reads it when it changes, so a revoked key stops working at once,
without a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SCOPES = ("read", "pii", "upload", "run")
PREFIX = "rp_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FILE_NAME = "keys.json"


class ApiKeyError(ValueError):
    """A key cannot be created or revoked as asked (a bad name or scope, a name in use, an unknown name)."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    created_at: str
    digest: str  # SHA-256 of the key, hex


def parse_scopes(text: str) -> frozenset[str]:
    """``read,pii`` -> {"read", "pii"}; an unknown or missing scope is a ``ApiKeyError`` naming the valid ones."""
    scopes = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        what = f"unknown scope(s) {', '.join(unknown)}" if unknown else "no scope given"
        raise ApiKeyError(f"{what}: choose from {', '.join(SCOPES)} (comma-separated)")
    return frozenset(scopes)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class KeyStore:
    """The keys file of one lakehouse's API (``directory`` is its API state directory)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) of the file last read
        self._keys: tuple[ApiKey, ...] = ()

    # -- reading -------------------------------------------------------------------------------------------

    def _read(self) -> tuple[ApiKey, ...]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return ()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"the API keys file {self.path} cannot be read ({exc}): fix or remove it") from exc
        return tuple(
            ApiKey(name, frozenset(entry["scopes"]), entry["created_at"], entry["sha256"])
            for name, entry in sorted(data.get("keys", {}).items())
        )

    def keys(self) -> tuple[ApiKey, ...]:
        """The keys as the file holds them now (re-read only when the file changed: one ``stat`` a call)."""
        try:
            st = os.stat(self.path)
            seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._keys, self._seen = self._read(), seen
        return self._keys

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key ``presented`` is, or None. Every stored digest is compared (constant time each)."""
        digest = _digest(presented)
        found = None
        for key in self.keys():
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    # -- changing ------------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".{FILE_NAME}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = {"keys": {k.name: {"scopes": sorted(k.scopes), "created_at": k.created_at, "sha256": k.digest}
                             for k in self._read()}}
            yield data
            staging = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(staging, self.path)

    def create(self, name: str, scopes: frozenset[str]) -> str:
        """A new key named ``name`` with ``scopes``; returns the key (the only time it is known)."""
        if not NAME.match(name):
            raise ApiKeyError(f"{name!r} is not a key name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        key = PREFIX + secrets.token_urlsafe(32)
        with self._locked() as data:
            if name in data["keys"]:
                raise ApiKeyError(f"a key named {name!r} exists: revoke it first (retail-pipeline api-key revoke {name})")
            data["keys"][name] = {
                "scopes": sorted(scopes),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sha256": _digest(key),
            }
        return key

    def revoke(self, name: str) -> None:
        with self._locked() as data:
            if name not in data["keys"]:
                known = ", ".join(sorted(data["keys"])) or "none"
                raise ApiKeyError(f"no key named {name!r} (keys: {known})")
            del data["keys"][name]

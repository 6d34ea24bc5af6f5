"""The read API (``retail-pipeline serve``) under a real uvicorn on 127.0.0.1, over a lakehouse built by a real
run: scopes route by route, personal columns, paging (also while a run rewrites the table), the rate limit,
problem+json errors, the KPIs against the warehouse and the ``sql`` command, metrics and the access log."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from datetime import date

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.sql import query
from retail_pipeline.core import tables
from retail_pipeline.core.dates import Window
from retail_pipeline.settings import Settings
from retail_pipeline_tests.app.api_site import KEYS, running_api, shared_site, wait_until_ready

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return shared_site(tmp_path_factory)


@pytest.fixture(scope="module")
def api(site):
    with running_api(site) as api:
        yield api


def _warehouse(site, sql: str, params=None) -> pl.DataFrame:
    with duckdb.connect(str(site / "warehouse.duckdb"), read_only=True) as conn:
        return conn.sql(sql, params=params).pl()


@pytest.fixture(scope="module")
def customer(site) -> str:
    return _warehouse(site, "SELECT customer_id FROM customer_rfm ORDER BY monetary_gbp DESC LIMIT 1")["customer_id"][0]


def _routes(customer: str) -> list[tuple[str, set[str]]]:
    return [
        ("/v1/stats", {"read"}),
        ("/v1/tables", {"read"}),
        ("/v1/tables/silver.transactions/rows?limit=5", {"read"}),
        ("/v1/tables/gold.customer_rfm/rows?limit=5", {"read"}),
        ("/v1/kpis/monthly", {"read"}),
        ("/v1/sales/daily?from=2011-06-01&to=2011-06-03", {"read"}),
        ("/v1/products/top?month=2011-06&limit=3", {"read"}),
        ("/metrics", {"read"}),
        (f"/v1/customers/{customer}", {"read", "pii"}),
    ]


def _is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text and "File \"" not in response.text
    return body


def test_every_route_asks_for_its_scopes(api, customer):
    for path, needed in _routes(customer):
        with api.client() as anonymous:
            response = anonymous.get(path)
            _is_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
            _is_problem(anonymous.get(path, headers={"Authorization": "Bearer rp_not-a-key"}), 401)
            _is_problem(anonymous.get(path, headers={"Authorization": f"Basic {api.keys['all']}"}), 401)
        for name, scopes in KEYS.items():
            with api.client(name) as client:
                response = client.get(path)
                if needed <= set(scopes.split(",")):
                    assert response.status_code == 200, (path, name, response.text)
                else:
                    body = _is_problem(response, 403)
                    assert set(needed - set(scopes.split(","))) <= set(re.findall(r"\w+", body["detail"])), body


def test_health_ready_and_the_docs_need_no_key(api):
    with api.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["tables"]["silver.transactions"]["version"] >= 0
        assert body["tables"]["gold.monthly_kpis"]["age_s"] >= 0
        schema = client.get("/openapi.json").json()
        assert "/v1/tables/{table}/rows" in schema["paths"] and "/v1/kpis/monthly" in schema["paths"]
        assert "swagger" in client.get("/docs").text.lower()


def test_ready_is_503_when_there_is_no_warehouse(tmp_path, site):
    bare = tmp_path / "bare"
    shutil.copytree(site / "lakehouse", bare / "lakehouse")
    with running_api(bare) as api, api.client() as client:
        body = _is_problem(client.get("/ready"), 503)
        assert "warehouse" in body["detail"] and str(bare) not in body["detail"]  # no server path to anyone
        assert client.get("/health").status_code == 200
        with api.client("read") as reader:
            _is_problem(reader.get("/v1/kpis/monthly"), 503)


def test_customer_columns_are_null_without_pii(api, site, customer):
    lakehouse = Lakehouse(root=str(site / "lakehouse"))
    for table, columns in (
        ("silver.transactions", ["customer_id"]),
        ("gold.fact_sales", ["customer_key"]),
        ("gold.customer_rfm", ["customer_id", "customer_key"]),
        ("bronze.transactions", ["customer_id", "_raw_record"]),
    ):
        with api.client("read") as reader, api.client("analyst") as analyst:
            hidden = reader.get(f"/v1/tables/{table}/rows", params={"limit": 5000}).json()["rows"]
            shown = analyst.get(f"/v1/tables/{table}/rows", params={"limit": 5000}).json()["rows"]
        assert len(hidden) == len(shown) > 0
        for column in columns:
            assert all(row[column] is None for row in hidden), (table, column)
            assert any(row[column] is not None for row in shown), (table, column)
        if table == "bronze.transactions":  # the record with a field too many: every business field hidden
            raw = [row for row in hidden if row["_field_count"] == 9]
            assert raw and all(row["country"] is None and row["unit_price"] is None for row in raw)
    text = json.dumps(hidden)
    assert customer not in text
    with api.client("read") as reader:
        _is_problem(reader.get("/v1/tables/silver.transactions/rows", params={"customer_id": customer}), 403)
    with api.client("analyst") as analyst:
        rows = analyst.get("/v1/tables/silver.transactions/rows", params={"customer_id": customer, "limit": 5000}).json()["rows"]
    silver = lakehouse.read("silver/transactions").filter(pl.col("customer_id") == customer)
    assert len(rows) == silver.height > 0


def test_the_customer_route_answers_the_warehouse(api, site, customer):
    expected = _warehouse(site, "SELECT * FROM customer_rfm WHERE customer_id = ?", [customer]).to_dicts()[0]
    with api.client("analyst") as client:
        body = client.get(f"/v1/customers/{customer}").json()
        assert body["customer_id"] == customer and body["segment"] == expected["segment"]
        assert body["monetary_gbp"] == pytest.approx(expected["monetary_gbp"])
        assert body["country"] is not None
        assert client.get(f"/v1/customers/{customer}.0").json()["customer_id"] == customer
        _is_problem(client.get("/v1/customers/99999999"), 404)
        _is_problem(client.get("/v1/customers/a%20b"), 422)  # the schema's pattern: no spaces, commas or quotes


def _page_all(client, table: str, limit: int, **params) -> tuple[list[dict], list[int]]:
    rows, versions, cursor = [], [], None
    while True:
        answer = client.get(f"/v1/tables/{table}/rows", params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows += body["rows"]
        versions.append(body["version"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, versions
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # URL-safe as it is
        assert len(body["rows"]) == min(limit, 5000)


def _keys(rows: list[dict], key: list[str]) -> list[tuple]:
    return [tuple(row[c] for c in key) for row in rows]


def test_paging_returns_every_row_once_in_key_order(api, site):
    lakehouse = Lakehouse(root=str(site / "lakehouse"))
    with api.client("analyst") as client:
        for table, limit in (("silver.transactions", 97), ("bronze.transactions", 1000), ("gold.daily_sales", 7),
                             ("gold.customer_rfm", 13), ("bronze.landed_files", 1), ("gold.monthly_kpis", 1000)):
            rows, versions = _page_all(client, table, limit)
            path = table.replace(".", "/")
            expected = lakehouse.read(path)
            assert len(rows) == expected.height, table
            assert len(set(versions)) == 1
            catalogue = {t["name"]: t for t in client.get("/v1/tables").json()["tables"]}
            key = catalogue[table]["page_key"]
            if key:
                got = _keys(rows, key)
                assert got == sorted(got, key=lambda k: tuple((v is not None, v) for v in k)), table
                assert sorted(map(str, got)) == sorted(map(str, expected.select(key).with_columns(
                    pl.col(pl.Date).cast(pl.String)).rows())), table
            every = [c for c in expected.columns if expected.schema[c] in (pl.String, pl.Int64)]
            assert sorted(json.dumps([r[c] for c in every]) for r in rows) == sorted(
                json.dumps(list(r)) for r in expected.select(every).rows()
            ), table


def test_limit_is_clamped_and_filters_and_columns_apply(api, site):
    with api.client("read") as client:
        body = client.get("/v1/tables/bronze.transactions/rows", params={"limit": 10**9}).json()
        bronze = Lakehouse(root=str(site / "lakehouse")).read("bronze/transactions").height
        assert body["limit"] == 5000 and len(body["rows"]) == min(5000, bronze)
        body = client.get("/v1/tables/silver.transactions/rows", params={
            "from": "2011-06-02", "to": "2011-06-03", "country": "France", "columns": "invoice_date,country,quantity",
            "limit": 5000,
        }).json()
        assert body["rows"] and all(set(r) == {"invoice_date", "country", "quantity"} for r in body["rows"])
        assert {r["invoice_date"] for r in body["rows"]} <= {"2011-06-02", "2011-06-03"}
        assert {r["country"] for r in body["rows"]} == {"France"}
        silver = Lakehouse(root=str(site / "lakehouse")).read("silver/transactions")
        expected = silver.filter(pl.col("invoice_date").is_between(date(2011, 6, 2), date(2011, 6, 3)), pl.col("country") == "France")
        assert len(body["rows"]) == expected.height
    with running_api(site, RETAIL_API_PAGE_CAP="50") as small, small.client("read") as client:
        body = client.get("/v1/tables/silver.transactions/rows", params={"limit": 1000}).json()
        assert body["limit"] == 50 and len(body["rows"]) == 50 and body["next_cursor"]


def test_bad_requests_are_problems(api):
    with api.client("read") as client:
        _is_problem(client.get("/v1/tables/silver.nothing/rows"), 404)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"limit": 0}), 422)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"limit": "many"}), 422)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"from": "yesterday"}), 422)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"cursor": "not-a-cursor"}), 400)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"columns": "invoice_no,nope"}), 400)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"colour": "red"}), 400)
        _is_problem(client.get("/v1/tables/gold.dim_product/rows", params={"from": "2011-06-01"}), 400)
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params=[("country", "a"), ("country", "b")]), 400)
        other = client.get("/v1/tables/bronze.transactions/rows", params={"limit": 1}).json()["next_cursor"]
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"cursor": other}), 400)
        filtered = client.get("/v1/tables/silver.transactions/rows", params={"limit": 1, "country": "France"}).json()
        _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"cursor": filtered["next_cursor"]}), 400)
        _is_problem(client.get("/v1/tables/gold.dim_date/rows", params={"date_key": str(2**40)}), 400)
        _is_problem(client.get("/v1/tables/gold.dim_date/rows", params={"date_key": "9" * 40}), 400)
        twice = client.get("/v1/tables/gold.dim_date/rows", params={"columns": "date,date,date_key", "limit": 2})
        assert twice.status_code == 200 and list(twice.json()["rows"][0]) == ["date", "date_key"]
        _is_problem(client.get("/v1/products/top", params={"month": "2011-13"}), 422)
        _is_problem(client.get("/v1/products/top", params={"month": "0000-01"}), 422)
        _is_problem(client.get("/v1/sales/daily", params={"from": "2011-06-05", "to": "2011-06-01"}), 400)
        _is_problem(client.get("/v1/nothing"), 404)
        _is_problem(client.post("/v1/kpis/monthly"), 405)


def test_a_cursor_keeps_its_version_while_a_run_rewrites_the_table(tmp_path, site):
    own = tmp_path / "own"
    shutil.copytree(site, own, ignore=shutil.ignore_patterns("landing"))
    lakehouse = Lakehouse(root=str(own / "lakehouse"))
    table = tables.SILVER_TRANSACTIONS
    before = lakehouse.read(table.path)
    with running_api(own) as api, api.client("analyst") as client:
        first = client.get("/v1/tables/silver.transactions/rows", params={"limit": 400}).json()
        # A run replaces two dates meanwhile: one loses half its rows, one has every quantity changed.
        day, other = date(2011, 6, 2), date(2011, 6, 6)
        rewritten = pl.concat([
            before.filter(pl.col("invoice_date") == day).head(before.filter(pl.col("invoice_date") == day).height // 2),
            before.filter(pl.col("invoice_date") == other).with_columns(pl.col("quantity") + 1000),
        ])
        rows, versions, cursor = list(first["rows"]), [first["version"]], first["next_cursor"]
        half = True
        while cursor:
            if half and len(rows) > before.height // 3:
                lakehouse.write(table.path, rewritten, table.date_column, Window(day, date(2011, 6, 7)))
                # ...and the days between them are gone in the new version: a window write replaces them all.
                half = False
            body = client.get("/v1/tables/silver.transactions/rows", params={"limit": 400, "cursor": cursor}).json()
            rows += body["rows"]
            versions.append(body["version"])
            cursor = body["next_cursor"]
        assert not half, "the write happened while paging"
        assert set(versions) == {first["version"]}
        key = ["_source_file", "_source_sheet", "_source_row"]
        assert sorted(_keys(rows, key), key=str) == sorted(before.select(key).rows(), key=str)
        assert sum(r["quantity"] for r in rows) == before["quantity"].sum()
        fresh = client.get("/v1/tables/silver.transactions/rows", params={"limit": 1}).json()
        assert fresh["version"] == first["version"] + 1
        # Once the old version's files are vacuumed, its cursor is a clear 410, not a 500.
        DeltaTable(lakehouse.uri(table.path)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        body = _is_problem(client.get("/v1/tables/silver.transactions/rows", params={"limit": 400, "cursor": first["next_cursor"]}), 410)
        assert "start" in body["detail"]


def test_the_rate_limit_answers_429_with_retry_after_per_key(site):
    with running_api(site, RETAIL_API_RATE_LIMIT_PER_S="0.5", RETAIL_API_RATE_BURST="3") as api:
        with api.client("read") as client:
            statuses = [client.get("/v1/kpis/monthly").status_code for _ in range(3)]
            assert statuses == [200, 200, 200]
            limited = client.get("/v1/kpis/monthly")
            body = _is_problem(limited, 429)
            assert int(limited.headers["retry-after"]) >= 1 and "RETAIL_API_RATE_LIMIT_PER_S" in body["detail"]
        with api.client("analyst") as other:
            assert other.get("/v1/kpis/monthly").status_code == 200  # another key has its own bucket
        with api.client() as anonymous:
            assert anonymous.get("/health").status_code == 200


def test_the_kpis_equal_the_warehouse_and_the_sql_command(api, site):
    lakehouse = Lakehouse(root=str(site / "lakehouse"))
    with api.client("read") as client:
        kpis = client.get("/v1/kpis/monthly").json()
        warehouse = _warehouse(site, "SELECT * FROM monthly_kpis ORDER BY month")
        sql = query(lakehouse, "SELECT * FROM monthly_kpis ORDER BY month", Settings())
        assert kpis["columns"] == warehouse.columns == sql.columns
        for frame in (warehouse, sql):
            expected = json.loads(frame.write_json())
            assert kpis["rows"] == expected
        daily = client.get("/v1/sales/daily", params={"from": "2011-06-02", "to": "2011-06-04", "country": "fr"}).json()
        expected = sql_daily = query(
            lakehouse, "SELECT * FROM daily_sales WHERE invoice_date BETWEEN '2011-06-02' AND '2011-06-04' "
            "AND country_iso2 = 'FR' ORDER BY invoice_date, country", Settings(),
        )
        assert daily["rows"] == json.loads(expected.write_json()) and sql_daily.height > 0
        top = client.get("/v1/products/top", params={"month": "2011-06", "limit": 5}).json()
        expected = _warehouse(site, "SELECT * FROM product_performance WHERE month = DATE '2011-06-01' ORDER BY revenue_rank, stock_code LIMIT 5")
        assert top["month"] == "2011-06" and top["rows"] == json.loads(expected.write_json())
        assert client.get("/v1/products/top").json()["month"] == "2011-06"  # the latest month by default


def test_stats_and_metrics_tell_the_tables_figures(api, site):
    lakehouse = Lakehouse(root=str(site / "lakehouse"))
    quarantine = lakehouse.read("silver/quarantine").group_by("reason_code").len()
    with api.client("read") as client:
        stats = client.get("/v1/stats").json()
        silver = lakehouse.read("silver/transactions").height
        assert stats["rows_per_layer"]["silver"]["tables"]["transactions"] == silver
        assert stats["quarantined_by_reason"] == dict(quarantine.iter_rows()) and stats["quarantined_rows"] > 0
        assert stats["duplicates_dropped"] == lakehouse.read("silver/partition_stats")["duplicates_dropped"].sum()
        assert stats["table_versions"]["silver.transactions"] == lakehouse.version("silver/transactions")
        assert 0 <= stats["quality_scores"]["silver.transactions"]["mean_score"] <= 1
        assert isinstance(stats["last_runs"], list)
        text = client.get("/metrics").text
    assert f'retail_table_rows{{table="silver.transactions"}} {float(silver)}' in text
    assert 'retail_api_requests_total{method="GET",route="/v1/stats",status="200"}' in text
    assert "retail_api_request_duration_seconds_bucket" in text and 'retail_quality_score{table="silver.transactions"}' in text
    for reason, count in quarantine.iter_rows():
        assert f'retail_quarantined_rows{{reason="{reason}"}} {float(count)}' in text


def test_the_access_log_has_one_line_per_request_and_no_key_or_customer(api, customer):
    with api.client("analyst") as client:
        before = len(api.log.lines)
        response = client.get(f"/v1/customers/{customer}", headers={"X-Request-ID": "trace-123"})
        client.get("/v1/tables/silver.transactions/rows", params={"customer_id": customer, "limit": 1})
    assert response.headers["x-request-id"] == "trace-123"
    lines = api.log.lines[before:]
    assert len(lines) == 2
    assert re.search(r"request_id=trace-123 method=GET route=/v1/customers/\{customer_id\} status=200 latency_ms=[\d.]+ key=analyst", lines[0])
    assert "route=/v1/tables/{table}/rows status=200" in lines[1]
    every = "\n".join(api.log.lines)
    assert customer not in every and not any(key in every for key in api.keys.values())


def test_cors_is_off_unless_configured(api, site):
    with api.client("read") as client:
        response = client.get("/v1/kpis/monthly", headers={"Origin": "http://127.0.0.1:3001"})
        assert "access-control-allow-origin" not in response.headers
    with running_api(site, RETAIL_API_CORS_ORIGINS="http://127.0.0.1:3001") as open_api, open_api.client("read") as client:
        response = client.get("/v1/kpis/monthly", headers={"Origin": "http://127.0.0.1:3001"})
        assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:3001"
        response = client.get("/v1/kpis/monthly", headers={"Origin": "http://127.0.0.1:3002"})
        assert "access-control-allow-origin" not in response.headers


def _cli(capsys, monkeypatch, *args, env=None) -> tuple[int, str, str]:
    """A command run in this process (``main``), with ``env`` set: its exit code, stdout and stderr."""
    from retail_pipeline.app.cli import main

    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_api_keys_are_shown_once_stored_hashed_and_revoked_at_once(tmp_path, site, capsys, monkeypatch):
    state = tmp_path / "state"
    env = {"RETAIL_API_STATE_DIR": str(state), "RETAIL_LAKEHOUSE_URI": str(site / "lakehouse")}
    code, out, err = _cli(capsys, monkeypatch, "api-key", "create", "--name", "bi", "--scopes", "read,pii", env=env)
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    assert re.fullmatch(r"rp_[A-Za-z0-9_-]{43}", key)
    stored = (state / "keys.json").read_text()
    assert key not in stored and "bi" in stored
    assert stat.S_IMODE((state / "keys.json").stat().st_mode) == 0o600
    code, out, _ = _cli(capsys, monkeypatch, "api-key", "list")
    assert "bi" in out and "pii,read" in out and key not in out
    code, _, err = _cli(capsys, monkeypatch, "api-key", "create", "--name", "bi", "--scopes", "read")
    assert code == 2 and "exists" in err
    code, _, err = _cli(capsys, monkeypatch, "api-key", "create", "--name", "x", "--scopes", "read,admin")
    assert code == 2 and "admin" in err and "Traceback" not in err
    code, _, err = _cli(capsys, monkeypatch, "api-key", "create", "--name", "../x", "--scopes", "read")
    assert code == 2 and "not a key name" in err
    with running_api(site, RETAIL_API_STATE_DIR=str(state)) as api:
        with api.client() as client:
            assert client.get("/v1/kpis/monthly", headers={"Authorization": f"Bearer {key}"}).status_code == 200
            code, _, err = _cli(capsys, monkeypatch, "api-key", "revoke", "bi")
            assert code == 0, err
            _is_problem(client.get("/v1/kpis/monthly", headers={"Authorization": f"Bearer {key}"}), 401)
    assert _cli(capsys, monkeypatch, "api-key", "revoke", "bi")[0] == 2
    with pytest.raises(SystemExit) as refused:
        _cli(capsys, monkeypatch, "serve", "--port", "99999")
    assert refused.value.code == 2 and "not a port" in capsys.readouterr().err


def test_serve_starts_on_the_loopback_and_stops_cleanly(tmp_path, site):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RETAIL_API_STATE_DIR": str(tmp_path / "state")}
    server = subprocess.Popen(
        [sys.executable, "-m", "retail_pipeline.app.cli", "serve", "--port", str(port), "--lakehouse", str(site / "lakehouse")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        import httpx

        wait_until_ready(f"http://127.0.0.1:{port}", server)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/stats", timeout=5).status_code == 401
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "route=/ready status=200" in err and "Traceback" not in err


def test_a_fuzz_of_the_openapi_surface_finds_no_server_error(api, tmp_path):
    """Schemathesis generates requests from the API's own OpenAPI schema (valid and invalid values, every
    route, with a key holding every scope): no answer may be a 5xx. (Scopes refused: the test above.) A daemon
    heartbeat makes run requests go through to the queue of the test's own instance (nothing executes them)."""
    from dagster._daemon.types import DaemonHeartbeat

    api.instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "QUEUED_RUN_COORDINATOR", "fuzz", None))
    for key, examples in (("all", "12"),):
        fuzz = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", f"{api.url}/openapi.json",
                "--checks", "not_a_server_error", "-H", f"Authorization: Bearer {api.keys[key]}",
                "--max-examples", examples, "--seed", "20261201", "--workers", "2",
                "--phases", "examples,coverage,fuzzing",  # no links between operations: stateful finds nothing more
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )
        assert fuzz.returncode == 0, fuzz.stdout[-4000:]
        assert re.search(r"\d+ passed", fuzz.stdout) and "ST101" not in fuzz.stdout
    assert api.instance.get_runs_count() > 0  # some run requests went through to the queue
    assert not any("unexpected" in line for line in api.log.lines), [l for l in api.log.lines if "unexpected" in l]


def test_concurrent_readers_during_writes_get_no_server_error(tmp_path, site):
    """Clients on every route at once while a writer commits new versions of silver/transactions: each answer is
    a 200 (the cached table handles are brought up to date under the readers)."""
    import threading

    own = tmp_path / "busy"
    shutil.copytree(site, own, ignore=shutil.ignore_patterns("landing"))
    lakehouse = Lakehouse(root=str(own / "lakehouse"))
    table = tables.SILVER_TRANSACTIONS
    frame = lakehouse.read(table.path)
    statuses, stop = [], time.monotonic() + 2.5
    with running_api(own) as api:
        def reader(path: str) -> None:
            with api.client("analyst") as client:
                while time.monotonic() < stop:
                    statuses.append((path, client.get(path).status_code))

        paths = ["/v1/tables", "/v1/stats", "/ready", "/metrics", "/v1/tables/silver.transactions/rows?limit=300",
                 "/v1/tables/silver.transactions/rows?limit=50&from=2011-06-03"]
        threads = [threading.Thread(target=reader, args=(p,)) for p in paths]
        for thread in threads:
            thread.start()
        writes = 0
        while time.monotonic() < stop:
            lakehouse.write(table.path, frame, table.date_column, Window(date(2011, 6, 1), date(2011, 6, 10)))
            writes += 1
        for thread in threads:
            thread.join()
    assert writes >= 2 and {path for path, _ in statuses} == set(paths)
    assert [s for s in statuses if s[1] != 200] == []

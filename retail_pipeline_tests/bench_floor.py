"""The benchmark's floor: the pipeline's work with no Dagster, in one eager pass (polars + deltalake).

It reads every landing file, then, in the same chunks of days as the Dagster runs, builds bronze, silver
(with quarantine and partition stats), the daily marts, the star's fact and the quality scorecard with the
same pure functions the assets call, writes the same Delta tables through the same ``Lakehouse``, and ends
with the whole-history marts and dimensions. What it leaves out is what Dagster adds (runs, events, asset
checks, the manifest) and what is not a Delta table (the DuckDB warehouse, the report). ``python -m retail_pipeline_tests.bench_floor --landing DIR --out DIR``.
"""

import argparse
from datetime import datetime, timedelta, timezone

import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.adapters.reference_bundles import read_bundled_countries, read_bundled_ecb_rates
from retail_pipeline.core.contracts import BRONZE_TRANSACTIONS, conform
from retail_pipeline.core.dates import Window
from retail_pipeline.core.enrichment.countries import build_dim_country
from retail_pipeline.core.enrichment.fx import build_fx_daily
from retail_pipeline.core.landing_files import to_bronze
from retail_pipeline.core.transforms import kpis as gold
from retail_pipeline.core.transforms import marts, star
from retail_pipeline.core.transforms.quality import build_scorecard
from retail_pipeline.core.transforms.silver import build_silver
from retail_pipeline.defs.partitions import partition_bounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chunk", type=int, default=31, help="days per pass, as the Dagster runs (default 31; 0: one pass)")
    args = parser.parse_args()

    zone, house = LandingZone(root=args.landing), Lakehouse(root=args.out)
    start, end = partition_bounds()
    now = datetime.now(timezone.utc)
    paths = zone.list_files()["path"].to_list()
    bronze_all = conform(
        pl.concat([to_bronze(zone.read(p), start, end, now, "floor") for p in paths]), BRONZE_TRANSACTIONS
    ).collect()
    first, last = bronze_all["_partition_date"].min(), bronze_all["_partition_date"].max()

    rates, _ = read_bundled_ecb_rates()
    fx_daily = build_fx_daily(rates, end=end)
    dim_country = build_dim_country(read_bundled_countries())
    house.write("silver/fx_daily", fx_daily)
    house.write("silver/dim_country", dim_country)

    # The same chunks as the Dagster runs (RETAIL_MAX_PARTITIONS_PER_RUN), so memory is bounded the same way.
    silver_rows = 0
    chunk = args.chunk if args.chunk > 0 else (last - first).days + 1
    for a in (first + timedelta(days=d) for d in range(0, (last - first).days + 1, chunk)):
        window = Window(a, min(a + timedelta(days=chunk), last + timedelta(days=1)))
        bronze = bronze_all.filter(window.expr("_partition_date"))
        result = build_silver(bronze.lazy(), fx_daily.lazy(), dim_country.lazy(), window.start, window.end, start, end, "floor")
        daily = gold.daily_sales(result.transactions.lazy()).collect()
        card = build_scorecard(
            bronze.lazy(), result.transactions.lazy(), daily.lazy(), result.partition_stats.lazy(), window.start, window.end
        )
        house.write("bronze/transactions", bronze, "_partition_date", window)
        house.write("silver/transactions", result.transactions, "invoice_date", window)
        house.write("silver/quarantine", result.quarantine, "_partition_date", window)
        house.write("silver/partition_stats", result.partition_stats, "business_date", window)
        house.write("gold/daily_sales", daily, "invoice_date", window)
        house.write("gold/dq_scorecard", card, "business_date", window)
        house.write("gold/fact_sales", star.fact_sales(result.transactions.lazy()).collect(), "invoice_date", window)
        silver_rows += result.transactions.height
    silver = house.scan("silver/transactions")
    house.write("gold/monthly_kpis", gold.monthly_kpis(silver).collect())
    house.write("gold/dim_date", star.dim_date(first, last))
    house.write("gold/dim_product", star.dim_product(silver).collect())
    house.write("gold/dim_customer", star.dim_customer(silver).collect())
    house.write("gold/dim_country", star.gold_dim_country(dim_country.lazy(), silver).collect())
    house.write("gold/product_performance", marts.product_performance(silver, house.scan("gold/dim_product")).collect())
    house.write("gold/product_features", marts.product_features(silver).collect())
    house.write("gold/customer_rfm", marts.customer_rfm(silver).collect())
    house.write("gold/country_sales", marts.country_sales(silver).collect())
    print(f"{bronze_all.height:,} bronze rows -> {silver_rows:,} silver rows, {first}..{last}")


if __name__ == "__main__":
    main()

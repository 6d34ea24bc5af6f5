"""The table registry: every Delta table of the lakehouse, in one place.

A table's path is ``<layer>/<name>`` under the lakehouse root, its Dagster asset key is the same two parts,
and its contract (``core/contracts.py``) gives its columns, types and descriptions. Daily tables name their
business-date column: a run over a range of days replaces and reads exactly those days. Append-only tables
(the fetch logs of reference data) only ever gain the rows of new payloads. Everything that lists tables
(the IO manager, the SQL surface, maintenance, erasure, the planner) reads this list, so a new table is
added here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from retail_pipeline.core import contracts


@dataclass(frozen=True)
class Table:
    """One Delta table of the lakehouse."""

    path: str  # "silver/transactions": the table's place under the root, and its asset key joined by "/"
    contract: type[pa.DataFrameModel]
    date_column: str | None = None  # set for daily tables: the business-date column runs overwrite by
    append_only: bool = False  # fetch logs: a write adds the rows of new payloads, never replaces
    # A side table: written by the step of the asset named here, not an asset of its own (a daily asset costs
    # a materialisation event per day of every range run; these are by-products users read with the others).
    side_of: str | None = None

    @property
    def layer(self) -> str:
        return self.path.split("/")[0]

    @property
    def name(self) -> str:
        return self.path.split("/")[1]

    @property
    def is_asset(self) -> bool:
        return self.side_of is None

    @property
    def key(self) -> tuple[str, str]:
        """The Dagster asset key's parts (``dg.AssetKey(table.key)``)."""
        return (self.layer, self.name)

    @property
    def sql_name(self) -> str:
        """Its name in ``retail-pipeline sql`` and the warehouse: gold tables by name, others as
        ``<layer>_<name>``."""
        return self.name if self.layer == "gold" else f"{self.layer}_{self.name}"

    @property
    def schema(self) -> pl.Schema:
        return contracts.polars_schema(self.contract)

    @property
    def checked(self) -> bool:
        """Whether a run must pass blocking checks on it (silver and gold; bronze holds the strings found,
        judged in silver): its build is pending until they pass."""
        return self.layer != "bronze"

    def descriptions(self) -> dict[str, str]:
        """Column name -> its one-line description from the contract."""
        return contracts.column_descriptions(self.contract)


MANIFEST = Table("bronze/landed_files", contracts.LandedFilesModel)
BRONZE_TRANSACTIONS = Table("bronze/transactions", contracts.BronzeTransactionsModel, "_partition_date")
ERASED_ROWS = Table("bronze/erased_rows", contracts.ErasedRowsModel, "_partition_date", side_of="bronze/transactions")
ERASED_CUSTOMERS = Table("bronze/erased_customers", contracts.ErasedCustomersModel)
FX_RATES = Table("bronze/fx_rates", contracts.FxRatesModel, append_only=True)
COUNTRIES = Table("bronze/countries", contracts.CountriesModel, append_only=True)
FX_DAILY = Table("silver/fx_daily", contracts.FxDailyModel)
DIM_COUNTRY = Table("silver/dim_country", contracts.DimCountryModel)
SILVER_TRANSACTIONS = Table("silver/transactions", contracts.SilverTransactionsModel, "invoice_date")
QUARANTINE = Table("silver/quarantine", contracts.SilverQuarantineModel, "_partition_date")
PARTITION_STATS = Table("silver/partition_stats", contracts.PartitionStatsModel, "business_date", side_of="silver/transactions")
DAILY_SALES = Table("gold/daily_sales", contracts.DailySalesModel, "invoice_date")
DQ_SCORECARD = Table("gold/dq_scorecard", contracts.DqScorecardModel, "business_date")
FACT_SALES = Table("gold/fact_sales", contracts.FactSalesModel, "invoice_date")
MONTHLY_KPIS = Table("gold/monthly_kpis", contracts.MonthlyKpisModel)
COUNTRY_SALES = Table("gold/country_sales", contracts.CountrySalesModel)
PRODUCT_PERFORMANCE = Table("gold/product_performance", contracts.ProductPerformanceModel)
PRODUCT_FEATURES = Table("gold/product_features", contracts.ProductFeaturesModel)
CUSTOMER_RFM = Table("gold/customer_rfm", contracts.CustomerRfmModel)
DIM_DATE = Table("gold/dim_date", contracts.DimDateModel)
DIM_PRODUCT = Table("gold/dim_product", contracts.DimProductModel)
DIM_CUSTOMER = Table("gold/dim_customer", contracts.DimCustomerModel)
GOLD_DIM_COUNTRY = Table("gold/dim_country", contracts.GoldDimCountryModel)

# Every table, in the order the SQL surface lists them: gold, silver, bronze.
TABLES: tuple[Table, ...] = (
    FACT_SALES,
    DIM_DATE,
    DIM_PRODUCT,
    DIM_CUSTOMER,
    GOLD_DIM_COUNTRY,
    DAILY_SALES,
    MONTHLY_KPIS,
    COUNTRY_SALES,
    PRODUCT_PERFORMANCE,
    PRODUCT_FEATURES,
    CUSTOMER_RFM,
    DQ_SCORECARD,
    SILVER_TRANSACTIONS,
    QUARANTINE,
    PARTITION_STATS,
    FX_DAILY,
    DIM_COUNTRY,
    BRONZE_TRANSACTIONS,
    MANIFEST,
    FX_RATES,
    COUNTRIES,
    ERASED_ROWS,
    ERASED_CUSTOMERS,
)
BY_PATH: dict[str, Table] = {table.path: table for table in TABLES}
# The daily tables, in the order a range run writes them.
DAILY_TABLES: tuple[Table, ...] = (
    BRONZE_TRANSACTIONS,
    ERASED_ROWS,
    SILVER_TRANSACTIONS,
    QUARANTINE,
    PARTITION_STATS,
    DAILY_SALES,
    DQ_SCORECARD,
    FACT_SALES,
)
# The whole-history marts, rebuilt from all of silver; the warehouse and the report follow them.
HISTORY_TABLES: tuple[Table, ...] = (
    MONTHLY_KPIS,
    PRODUCT_PERFORMANCE,
    PRODUCT_FEATURES,
    CUSTOMER_RFM,
    COUNTRY_SALES,
    DIM_DATE,
    DIM_PRODUCT,
    DIM_CUSTOMER,
    GOLD_DIM_COUNTRY,
)

# The outputs that are not Delta tables: the DuckDB warehouse file and the HTML report (their asset keys).
WAREHOUSE = "gold/warehouse"
KPI_REPORT = "gold/kpi_report"

# Everything rebuilt from the whole history, in build order: what the planner checks after the daily tables.
HISTORY_OUTPUTS: tuple[str, ...] = (*(table.path for table in HISTORY_TABLES), WAREHOUSE, KPI_REPORT)
# The marts published to Postgres from the warehouse: an output only where RETAIL_POSTGRES_* is set.
POSTGRES_MARTS = "serving/postgres_marts"


def history_outputs(postgres: bool = False) -> tuple[str, ...]:
    """The whole-history outputs of a deployment (``postgres``: it publishes the marts to Postgres)."""
    return (*HISTORY_OUTPUTS, POSTGRES_MARTS) if postgres else HISTORY_OUTPUTS

# The build log (``core/build_state.py``): lakehouse state, not a table of the pipeline's data.
BUILD_LOG = "_state/builds"

# The gold tables copied into the DuckDB warehouse, under their SQL names.
WAREHOUSE_TABLES: tuple[Table, ...] = tuple(table for table in TABLES if table.layer == "gold")
# What ``retail-pipeline sql`` can query: SQL name -> table path.
SQL_TABLES: dict[str, str] = {table.sql_name: table.path for table in TABLES}


def by_key(parts: tuple[str, ...] | list[str]) -> Table | None:
    """The table of an asset key's parts, or None for an asset that is not a lakehouse table."""
    return BY_PATH.get("/".join(parts))


def catalogue() -> list[str]:
    """Every table path, sorted."""
    return sorted(BY_PATH)

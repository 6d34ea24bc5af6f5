"""The contracts of every lakehouse table: Pandera models (polars backend) of bronze, silver and gold.

Each model gives its table's columns, types, nullability and rules; the polars schemas the transforms
conform to are derived from the models here, never restated. Asset checks validate the rows a run wrote
against them (``checks.py``).
"""

import pandera.polars as pa
import polars as pl

UTC_TS = pl.Datetime(time_unit="us", time_zone="UTC")
LINE_TYPES = ["sale", "cancellation", "adjustment", "fee"]
# Quarantine reason codes, stable: reports and people's scripts group by them.
WRONG_FIELD_COUNT = "wrong_field_count"
BAD_ENCODING = "bad_encoding"
MISSING_REQUIRED = "missing_required"
UNPARSEABLE_DATE = "unparseable_date"
DATE_OUT_OF_RANGE = "date_out_of_range"
UNPARSEABLE_QUANTITY = "unparseable_quantity"
UNPARSEABLE_PRICE = "unparseable_price"
REASON_CODES = [
    WRONG_FIELD_COUNT,
    BAD_ENCODING,
    MISSING_REQUIRED,
    UNPARSEABLE_DATE,
    DATE_OUT_OF_RANGE,
    UNPARSEABLE_QUANTITY,
    UNPARSEABLE_PRICE,
]


class BronzeTransactionsModel(pa.DataFrameModel):
    """bronze/transactions: every field as the string found, placed in a business date, with lineage."""

    invoice_no: str = pa.Field(nullable=True)
    stock_code: str = pa.Field(nullable=True)
    description: str = pa.Field(nullable=True)
    quantity: str = pa.Field(nullable=True)
    invoice_ts: str = pa.Field(nullable=True)
    unit_price: str = pa.Field(nullable=True)
    customer_id: str = pa.Field(nullable=True)
    country: str = pa.Field(nullable=True)
    extra: str = pa.Field(alias="_extra", nullable=True)
    # Set only for a record whose field count differs from its header's: silver quarantines it.
    field_count: pl.Int64 = pa.Field(alias="_field_count", nullable=True, ge=0)
    raw_record: str = pa.Field(alias="_raw_record", nullable=True)
    partition_date: pl.Date = pa.Field(alias="_partition_date")
    source_file: str = pa.Field(alias="_source_file")
    source_sheet: str = pa.Field(alias="_source_sheet", nullable=True)  # .xlsx worksheet; null for CSV
    source_row: pl.Int64 = pa.Field(alias="_source_row", ge=1)
    file_sha256: str = pa.Field(alias="_file_sha256", str_matches=r"^[0-9a-f]{64}$")
    format: str = pa.Field(alias="_format")
    ingested_at: UTC_TS = pa.Field(alias="_ingested_at")
    run_id: str = pa.Field(alias="_run_id")

    class Config:  # exactly these columns (their order is the writer's: evolved tables append)
        strict = True


class SilverQuarantineModel(BronzeTransactionsModel):
    """silver/quarantine: a bronze row that cannot be trusted, with a stable reason code and a sentence."""

    reason_code: str = pa.Field(isin=REASON_CODES)
    reason: str = pa.Field(str_length={"min_value": 1})


class SilverTransactionsModel(pa.DataFrameModel):
    """silver/transactions: typed, deduplicated, classified and enriched sales lines."""

    invoice_no: str = pa.Field(str_length={"min_value": 1})
    stock_code: str = pa.Field(str_length={"min_value": 1})
    description: str = pa.Field(nullable=True)
    quantity: pl.Int64
    invoice_ts: pl.Datetime(time_unit="us")
    invoice_date: pl.Date
    unit_price: float
    customer_id: str = pa.Field(nullable=True, str_matches=r"^\S+$")
    country: str = pa.Field(nullable=True)
    country_iso2: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    region: str = pa.Field(nullable=True)
    line_type: str = pa.Field(isin=LINE_TYPES)
    is_product: bool
    gbp_eur: float = pa.Field(nullable=True, gt=0)
    gbp_usd: float = pa.Field(nullable=True, gt=0)
    line_total_gbp: float
    line_total_eur: float = pa.Field(nullable=True)
    line_total_usd: float = pa.Field(nullable=True)
    source_file: str = pa.Field(alias="_source_file")
    source_sheet: str = pa.Field(alias="_source_sheet", nullable=True)
    source_row: pl.Int64 = pa.Field(alias="_source_row", ge=1)
    file_sha256: str = pa.Field(alias="_file_sha256", str_matches=r"^[0-9a-f]{64}$")
    run_id: str = pa.Field(alias="_run_id")

    class Config:  # exactly these columns (their order is the writer's: evolved tables append)
        strict = True

    @pa.dataframe_check
    def invoice_date_is_the_date_of_invoice_ts(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("invoice_ts").dt.date() == pl.col("invoice_date"))

    @pa.dataframe_check
    def a_cancellation_has_negative_quantity(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("line_type") != "cancellation") | (pl.col("quantity") < 0))

    @pa.dataframe_check
    def line_totals_are_quantity_times_price_times_rate(cls, data) -> pl.LazyFrame:
        gbp = pl.col("quantity") * pl.col("unit_price")
        close = lambda a, b: ((a - b).abs() <= 1e-6 * (1 + b.abs())).fill_null(a.is_null() & b.is_null())  # noqa: E731
        return data.lazyframe.select(
            close(pl.col("line_total_gbp"), gbp)
            & close(pl.col("line_total_eur"), gbp * pl.col("gbp_eur"))
            & close(pl.col("line_total_usd"), gbp * pl.col("gbp_usd"))
        )


class PartitionStatsModel(pa.DataFrameModel):
    """silver/partition_stats: per business date, where every bronze row went."""

    business_date: pl.Date = pa.Field(unique=True)
    bronze_rows: pl.Int64 = pa.Field(ge=0)
    silver_rows: pl.Int64 = pa.Field(ge=0)
    quarantined_rows: pl.Int64 = pa.Field(ge=0)
    duplicates_dropped: pl.Int64 = pa.Field(ge=0)
    quarantined_by_reason: pl.List(pl.Struct({"reason_code": pl.String, "rows": pl.Int64}))
    run_id: str = pa.Field(alias="_run_id")

    class Config:  # exactly these columns (their order is the writer's: evolved tables append)
        strict = True

    @pa.dataframe_check
    def bronze_rows_are_all_accounted_for(cls, data) -> pl.LazyFrame:
        accounted = pl.col("silver_rows") + pl.col("quarantined_rows") + pl.col("duplicates_dropped")
        return data.lazyframe.select(pl.col("bronze_rows") == accounted)


class KpiMeasuresModel(pa.DataFrameModel):
    """The KPI measures shared by the gold marts (DESIGN.md section 4)."""

    gross_revenue_gbp: float = pa.Field(ge=0)
    gross_revenue_eur: float = pa.Field(ge=0)
    gross_revenue_usd: float = pa.Field(ge=0)
    product_revenue_gbp: float = pa.Field(ge=0)
    product_revenue_eur: float = pa.Field(ge=0)
    product_revenue_usd: float = pa.Field(ge=0)
    cancelled_revenue_gbp: float
    cancelled_revenue_eur: float
    cancelled_revenue_usd: float
    net_revenue_gbp: float
    net_revenue_eur: float
    net_revenue_usd: float
    orders: pl.Int64 = pa.Field(ge=0)
    customers: pl.Int64 = pa.Field(ge=0)
    lines: pl.Int64 = pa.Field(ge=1)
    units: pl.Int64 = pa.Field(ge=0)
    aov_gbp: float = pa.Field(nullable=True, ge=0)
    cancelled_orders: pl.Int64 = pa.Field(ge=0)  # distinct cancellation invoices (added in 1.1)
    cancellation_rate: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 1})

    @pa.dataframe_check
    def net_is_gross_minus_cancelled(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.all_horizontal(
                (pl.col(f"net_revenue_{c}") - (pl.col(f"gross_revenue_{c}") - pl.col(f"cancelled_revenue_{c}"))).abs()
                < 1e-6
                for c in ("gbp", "eur", "usd")
            )
        )


class _DailyKeys(pa.DataFrameModel):
    invoice_date: pl.Date
    country: str = pa.Field(nullable=True)
    country_iso2: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")


class DailySalesModel(KpiMeasuresModel, _DailyKeys):
    """gold/daily_sales: one row per business date and country as the shop wrote it."""

    class Config:
        strict = True
        unique = ["invoice_date", "country"]


class _MonthKey(pa.DataFrameModel):
    month: pl.Date


class MonthlyKpisModel(KpiMeasuresModel, _MonthKey):
    """gold/monthly_kpis: one row per calendar month (its first day)."""

    new_customers: pl.Int64 = pa.Field(ge=0)  # first purchase in this month
    returning_customers: pl.Int64 = pa.Field(ge=0)  # bought this month, first purchase before

    class Config:
        strict = True
        unique = ["month"]

    @pa.dataframe_check
    def buyers_are_new_or_returning(cls, data) -> pl.LazyFrame:
        # ``customers`` also counts customers who only cancelled that month.
        return data.lazyframe.select(pl.col("new_customers") + pl.col("returning_customers") <= pl.col("customers"))

    @pa.dataframe_check
    def month_is_a_first_day(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("month").dt.day() == 1)


class DqScorecardModel(pa.DataFrameModel):
    """gold/dq_scorecard: data quality per business date and table (see transforms/quality.py)."""

    business_date: pl.Date
    table: str = pa.Field(isin=["bronze/transactions", "silver/transactions", "gold/daily_sales"])
    rows: pl.Int64 = pa.Field(ge=0)
    completeness: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 1})
    validity: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 1})
    uniqueness: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 1})
    score: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 1})
    quarantined_by_reason: pl.List(pl.Struct({"reason_code": pl.String, "rows": pl.Int64})) = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = ["business_date", "table"]


class LandedFilesModel(pa.DataFrameModel):
    """bronze/landed_files: the manifest, one row per file ever seen in the landing zone."""

    path: str = pa.Field(unique=True)  # relative to the landing root
    size_bytes: pl.Int64 = pa.Field(nullable=True, ge=0)
    mtime: UTC_TS = pa.Field(nullable=True)
    sha256: str = pa.Field(nullable=True, str_matches=r"^[0-9a-f]{64}$")
    format: str = pa.Field(nullable=True)
    extra_columns: pl.List(pl.String) = pa.Field(nullable=True)  # header columns beyond the variant's
    rows: pl.Int64 = pa.Field(nullable=True, ge=0)
    business_dates: pl.List(pl.Date) = pa.Field(nullable=True)
    min_date: pl.Date = pa.Field(nullable=True)
    max_date: pl.Date = pa.Field(nullable=True)
    status: str = pa.Field(isin=["active", "duplicate", "missing", "rejected"])
    duplicate_of: str = pa.Field(nullable=True)
    reason: str = pa.Field(nullable=True)
    first_seen: UTC_TS = pa.Field(nullable=True)

    class Config:
        strict = True

    @pa.dataframe_check
    def a_duplicate_names_its_original_and_a_rejection_its_reason(cls, data) -> pl.LazyFrame:
        status = pl.col("status")
        return data.lazyframe.select(
            ((status == "duplicate") == pl.col("duplicate_of").is_not_null())
            & ((status != "rejected") | pl.col("reason").is_not_null())
        )


class FxRatesModel(pa.DataFrameModel):
    """bronze/fx_rates: ECB reference rates as each source served them (units of currency per EUR), one
    row per (payload, date, currency); a payload is stored once (append-only by ``payload_sha256``)."""

    rate_date: pl.Date
    currency: str = pa.Field(str_matches=r"^[A-Z]{3}$")
    rate_per_eur: float = pa.Field(gt=0)
    source: str  # "api" or "bundle" ("ecb_bundle" in tables written before 0.4)
    source_name: str
    payload_sha256: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    # What was asked of an API (null for the bundle): URL without secrets, status, the date range requested.
    request_url: str = pa.Field(nullable=True)
    http_status: pl.Int32 = pa.Field(nullable=True)
    request_start: pl.Date = pa.Field(nullable=True)
    request_end: pl.Date = pa.Field(nullable=True)
    fetched_at: UTC_TS = pa.Field(alias="_fetched_at")
    run_id: str = pa.Field(alias="_run_id")

    class Config:
        strict = True
        unique = ["rate_date", "currency", "payload_sha256"]


class FxDailyModel(pa.DataFrameModel):
    """silver/fx_daily: every calendar day's GBP rates, as of the last fixing on or before it."""

    date: pl.Date = pa.Field(unique=True)
    fixing_date: pl.Date
    gbp_eur: float = pa.Field(gt=0)
    gbp_usd: float = pa.Field(gt=0)
    source: str

    class Config:
        strict = True

    @pa.dataframe_check
    def the_fixing_is_on_or_before_the_day(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("fixing_date") <= pl.col("date"))


class CountriesModel(pa.DataFrameModel):
    """bronze/countries: ISO 3166-1 countries with UN region and continent as each source served them, one
    row per (payload, country); a payload is stored once (append-only by ``payload_sha256``)."""

    alpha_2: str = pa.Field(str_matches=r"^[A-Z]{2}$")
    alpha_3: str = pa.Field(str_matches=r"^[A-Z]{3}$")
    numeric: str = pa.Field(nullable=True)  # REST Countries has none for Kosovo (XK)
    name: str
    official_name: str = pa.Field(nullable=True)
    common_name: str = pa.Field(nullable=True)
    un_region: str = pa.Field(nullable=True)
    continent: str = pa.Field(nullable=True)
    currencies: str = pa.Field(nullable=True)  # ISO 4217 codes, comma-separated (the API only)
    source: str  # "api" or "bundle" ("iso_bundle" in tables written before 0.4)
    source_name: str
    payload_sha256: str = pa.Field(nullable=True, str_matches=r"^[0-9a-f]{64}$")  # null in tables before 0.4
    request_url: str = pa.Field(nullable=True)
    http_status: pl.Int32 = pa.Field(nullable=True)
    fetched_at: UTC_TS = pa.Field(alias="_fetched_at")
    run_id: str = pa.Field(alias="_run_id")

    class Config:
        strict = True
        unique = ["alpha_2", "payload_sha256"]


class DimCountryModel(pa.DataFrameModel):
    """silver/dim_country: one row per country name as shops write it (normalised)."""

    country_key: str = pa.Field(unique=True)
    country_iso2: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    country_iso3: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{3}$")
    country_name: str
    region: str = pa.Field(nullable=True)
    continent: str = pa.Field(nullable=True)
    match: str = pa.Field(isin=["iso_name", "alias", "no_iso"])

    class Config:
        strict = True


class FactSalesModel(pa.DataFrameModel):
    """gold/fact_sales: one row per silver line, keyed to the star's dimensions, measures in three currencies."""

    date_key: pl.Int32
    product_key: pl.Int64 = pa.Field(ge=0)
    customer_key: pl.Int64 = pa.Field(nullable=True, ge=0)  # null: a line without a customer id
    country_key: pl.Int64 = pa.Field(nullable=True, ge=0)
    invoice_date: pl.Date
    invoice_no: str
    line_type: str = pa.Field(isin=LINE_TYPES)
    is_product: bool
    is_gross: bool
    quantity: pl.Int64
    unit_price: float
    line_total_gbp: float
    line_total_eur: float = pa.Field(nullable=True)
    line_total_usd: float = pa.Field(nullable=True)
    source_file: str = pa.Field(alias="_source_file")
    source_row: pl.Int64 = pa.Field(alias="_source_row", ge=1)

    class Config:
        strict = True

    @pa.dataframe_check
    def date_key_is_the_invoice_date(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("date_key").cast(pl.String).str.to_date("%Y%m%d") == pl.col("invoice_date"))


class DimDateModel(pa.DataFrameModel):
    """gold/dim_date: one row per calendar day of the years with sales."""

    date_key: pl.Int32 = pa.Field(unique=True)
    date: pl.Date = pa.Field(unique=True)
    year: pl.Int32
    quarter: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 4})
    month: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 12})
    month_name: str
    month_start: pl.Date
    iso_year: pl.Int32
    iso_week: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 53})
    day_of_month: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 31})
    day_of_week: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 7})  # 1 = Monday
    weekday_name: str
    is_weekend: bool
    is_uk_bank_holiday: bool  # England and Wales
    uk_holiday_name: str = pa.Field(nullable=True)

    class Config:
        strict = True


class DimProductModel(pa.DataFrameModel):
    """gold/dim_product: one row per stock code ever seen."""

    product_key: pl.Int64 = pa.Field(unique=True, ge=0)
    stock_code: str = pa.Field(unique=True)
    description: str = pa.Field(nullable=True)  # the most frequent one
    is_product: bool
    first_seen: pl.Date
    last_seen: pl.Date
    first_sold: pl.Date = pa.Field(nullable=True)
    last_sold: pl.Date = pa.Field(nullable=True)

    class Config:
        strict = True


class DimCustomerModel(pa.DataFrameModel):
    """gold/dim_customer: one row per customer id ever seen."""

    customer_key: pl.Int64 = pa.Field(unique=True, ge=0)
    customer_id: str = pa.Field(unique=True)
    country: str = pa.Field(nullable=True)  # the one they buy from most
    country_iso2: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    first_purchase: pl.Date = pa.Field(nullable=True)
    last_purchase: pl.Date = pa.Field(nullable=True)
    cohort_month: pl.Date = pa.Field(nullable=True)

    class Config:
        strict = True


class GoldDimCountryModel(pa.DataFrameModel):
    """gold/dim_country: silver/dim_country with a surrogate key, plus the names it does not know."""

    country_key: pl.Int64 = pa.Field(unique=True, ge=0)
    country_lookup: str = pa.Field(unique=True)  # silver's normalised name (its country_key)
    country_iso2: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    country_iso3: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{3}$")
    country_name: str
    region: str = pa.Field(nullable=True)
    continent: str = pa.Field(nullable=True)
    match: str = pa.Field(isin=["iso_name", "alias", "no_iso", "unknown"])

    class Config:
        strict = True


class ProductPerformanceModel(pa.DataFrameModel):
    """gold/product_performance: per month and product, gross revenue, units, orders and rank."""

    month: pl.Date
    product_key: pl.Int64 = pa.Field(ge=0)
    stock_code: str
    description: str = pa.Field(nullable=True)
    revenue_gbp: float = pa.Field(ge=0)
    revenue_eur: float = pa.Field(nullable=True, ge=0)
    revenue_usd: float = pa.Field(nullable=True, ge=0)
    units: pl.Int64 = pa.Field(ge=1)
    orders: pl.Int64 = pa.Field(ge=1)
    customers: pl.Int64 = pa.Field(ge=0)
    revenue_rank: pl.Int32 = pa.Field(ge=1)

    class Config:
        strict = True
        unique = ["month", "stock_code"]


class ProductFeaturesModel(pa.DataFrameModel):
    """gold/product_features: per product, the whole-history features a recommender needs."""

    product_key: pl.Int64 = pa.Field(unique=True, ge=0)
    stock_code: str = pa.Field(unique=True)
    orders: pl.Int64 = pa.Field(ge=1)  # popularity
    popularity_rank: pl.Int32 = pa.Field(ge=1)
    customers: pl.Int64 = pa.Field(ge=0)
    units: pl.Int64 = pa.Field(ge=1)
    revenue_gbp: float = pa.Field(ge=0)
    cancellation_rate: float = pa.Field(in_range={"min_value": 0, "max_value": 1})
    first_sold: pl.Date
    last_sold: pl.Date

    class Config:
        strict = True


class CustomerRfmModel(pa.DataFrameModel):
    """gold/customer_rfm: per customer with a purchase, RFM figures, scores, segment and features."""

    customer_key: pl.Int64 = pa.Field(unique=True, ge=0)
    customer_id: str = pa.Field(unique=True)
    recency_days: pl.Int64 = pa.Field(ge=1)
    frequency: pl.Int64 = pa.Field(ge=1)
    monetary_gbp: float = pa.Field(gt=0)
    r_score: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 5})
    f_score: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 5})
    m_score: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 5})
    rfm_score: str = pa.Field(str_matches=r"^[1-5]{3}$")
    segment: str = pa.Field(isin=["champions", "loyal", "new", "potential_loyalists", "at_risk", "hibernating", "lost"])
    avg_basket_gbp: float = pa.Field(gt=0)
    tenure_days: pl.Int64 = pa.Field(ge=0)
    avg_days_between_orders: float = pa.Field(nullable=True, ge=0)
    first_purchase: pl.Date
    last_purchase: pl.Date
    as_of: pl.Date

    class Config:
        strict = True


class CountrySalesModel(KpiMeasuresModel):
    """gold/country_sales: one row per month and country as the shop wrote it."""

    month: pl.Date
    country: str = pa.Field(nullable=True)
    country_iso2: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    region: str = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = ["month", "country"]


class ErasedRowsModel(pa.DataFrameModel):
    """bronze/erased_rows: per business date and landing-file version, the records bronze did not land because
    their customer is in the erasure register. With bronze's rows they account for every record of the active
    files; no customer id is kept here."""

    partition_date: pl.Date = pa.Field(alias="_partition_date")
    source_file: str = pa.Field(alias="_source_file")
    file_sha256: str = pa.Field(alias="_file_sha256", str_matches=r"^[0-9a-f]{64}$")
    rows_erased: pl.Int64 = pa.Field(ge=1)
    run_id: str = pa.Field(alias="_run_id")

    class Config:
        strict = True
        unique = ["_partition_date", "_source_file", "_file_sha256"]


class ErasedCustomersModel(pa.DataFrameModel):
    """bronze/erased_customers: the erasure register, written only by ``retail-pipeline forget-customer``. Its
    customers' records never land in bronze again, whatever file brings them."""

    customer_id: str = pa.Field(unique=True, str_matches=r"^\S+$")  # as silver normalises it: 17850
    requested_at: UTC_TS

    class Config:
        strict = True


def polars_schema(model: type[pa.DataFrameModel], exclude: tuple[str, ...] = ()) -> pl.Schema:
    """The column names and polars types of a contract, in its order (less ``exclude``)."""
    columns = model.to_schema().columns.items()
    return pl.Schema({name: column.dtype.type for name, column in columns if name not in exclude})


BRONZE_TRANSACTIONS = polars_schema(BronzeTransactionsModel)
SILVER_QUARANTINE = polars_schema(SilverQuarantineModel)
SILVER_TRANSACTIONS = polars_schema(SilverTransactionsModel)
PARTITION_STATS = polars_schema(PartitionStatsModel)
DAILY_SALES = polars_schema(DailySalesModel)
MONTHLY_KPIS = polars_schema(MonthlyKpisModel)
LANDED_FILES = polars_schema(LandedFilesModel)
DQ_SCORECARD = polars_schema(DqScorecardModel)
# The reference readers return the rows as the source gave them; the assets add the fetch lineage.
FX_RATES = polars_schema(FxRatesModel, exclude=("_fetched_at", "_run_id"))
COUNTRIES = polars_schema(CountriesModel, exclude=("_fetched_at", "_run_id"))
FX_DAILY = polars_schema(FxDailyModel)
DIM_COUNTRY = polars_schema(DimCountryModel)
FACT_SALES = polars_schema(FactSalesModel)
DIM_DATE = polars_schema(DimDateModel)
DIM_PRODUCT = polars_schema(DimProductModel)
DIM_CUSTOMER = polars_schema(DimCustomerModel)
GOLD_DIM_COUNTRY = polars_schema(GoldDimCountryModel)
PRODUCT_PERFORMANCE = polars_schema(ProductPerformanceModel)
PRODUCT_FEATURES = polars_schema(ProductFeaturesModel)
CUSTOMER_RFM = polars_schema(CustomerRfmModel)
COUNTRY_SALES = polars_schema(CountrySalesModel)
ERASED_ROWS = polars_schema(ErasedRowsModel)
ERASED_CUSTOMERS = polars_schema(ErasedCustomersModel)

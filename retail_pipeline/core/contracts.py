"""The contracts of every lakehouse table: Pandera models (polars backend) of bronze, silver and gold, the one
source of column names, types, rules and descriptions.

Each model gives its table's columns, types, nullability, rules and a one-line description per column (shown
in Dagster's UI). The polars schemas the transforms conform to are derived from the models here, never
restated: transforms end with ``conform(frame, SCHEMA)``, so a table's columns never drift and empty frames
still carry their types. Asset checks validate the rows a run wrote against the models.
"""


import pandera.polars as pa
import polars as pl

# The eight business fields of a transaction record, named as in DESIGN.md section 5.
BUSINESS_COLUMNS = [
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_ts",
    "unit_price",
    "customer_id",
    "country",
]

# Columns that differ between two runs over the same input by design.
PER_RUN_COLUMNS = ["_ingested_at", "_run_id"]


def conform(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Select exactly ``schema``'s columns, in its order, cast to its types.

    A missing column is a bug in the transform, not something to paper over with nulls: it raises.
    """
    missing = [name for name in schema.names() if name not in frame.collect_schema().names()]
    if missing:
        raise ValueError(f"transform output lacks columns {missing}")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def empty(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


# Columns holding a customer's id, or something derived from it, in any table or in the warehouse.
ID_COLUMN = "customer_id"

KEY_COLUMN = "customer_key"  # the star's surrogate key: a hash of the id, still the customer's

RAW_COLUMN = "_raw_record"  # the text of a record whose field count was wrong: the id is one of its fields

UTC_TS = pl.Datetime(time_unit="us", time_zone="UTC")

LINE_TYPES = ["sale", "cancellation", "adjustment", "fee"]

# Quarantine reason codes, stable: reports and people's scripts group by them.
UNBALANCED_QUOTE = "unbalanced_quote"

WRONG_FIELD_COUNT = "wrong_field_count"

BAD_ENCODING = "bad_encoding"

MISSING_REQUIRED = "missing_required"

UNPARSEABLE_DATE = "unparseable_date"

DATE_OUT_OF_RANGE = "date_out_of_range"

UNPARSEABLE_QUANTITY = "unparseable_quantity"

UNPARSEABLE_PRICE = "unparseable_price"

# Row rules of silver's contract that an input value alone can break: the row is quarantined, never a
# blocking check's failure (DESIGN.md: row rules quarantine, table rules block).
CANCELLATION_NOT_NEGATIVE = "cancellation_not_negative"

CUSTOMER_ID_HAS_WHITESPACE = "customer_id_has_whitespace"

REASON_CODES = [
    UNBALANCED_QUOTE,
    WRONG_FIELD_COUNT,
    BAD_ENCODING,
    MISSING_REQUIRED,
    UNPARSEABLE_DATE,
    DATE_OUT_OF_RANGE,
    UNPARSEABLE_QUANTITY,
    UNPARSEABLE_PRICE,
    CANCELLATION_NOT_NEGATIVE,
    CUSTOMER_ID_HAS_WHITESPACE,
]


class BronzeTransactionsModel(pa.DataFrameModel):
    """bronze/transactions: every field as the string found, placed in a business date, with lineage."""

    invoice_no: str = pa.Field(
        nullable=True, description="InvoiceNo (Invoice in Online Retail II files) as the string found; null when empty"
    )
    stock_code: str = pa.Field(
        nullable=True, description="StockCode as the string found in the landing file; null when empty"
    )
    description: str = pa.Field(
        nullable=True, description="Description as the string found in the landing file; null when empty"
    )
    quantity: str = pa.Field(
        nullable=True,
        description="Quantity as the string found in the landing file (e.g. 6, -2 or 6.0); null when empty",
    )
    invoice_ts: str = pa.Field(
        nullable=True,
        description="InvoiceDate as the string found in the landing file (e.g. 12/1/2010 8:26); null when empty",
    )
    unit_price: str = pa.Field(
        nullable=True,
        description="UnitPrice (Price in Online Retail II files) as the string found, in GBP; null when empty",
    )
    customer_id: str = pa.Field(
        nullable=True,
        description="CustomerID (Customer ID in Online Retail II files) as the string found, with or without a "
        "trailing .0; null when empty",
    )
    country: str = pa.Field(
        nullable=True,
        description="Country as the string found in the landing file (the shop's spelling, e.g. EIRE); null when empty",
    )
    extra: str = pa.Field(
        alias="_extra",
        nullable=True,
        description="JSON text of the record's columns beyond the known header; null when the file has none",
    )
    field_count: pl.Int64 = pa.Field(
        alias="_field_count",
        nullable=True,
        ge=0,
        description="Field count of a record whose count differs from the header's (silver quarantines it); "
        "null otherwise",
    )
    raw_record: str = pa.Field(
        alias="_raw_record",
        nullable=True,
        description="Raw text of a record whose field count differs from the header's; null otherwise",
    )
    partition_date: pl.Date = pa.Field(
        alias="_partition_date",
        description="Business date the row is stored under: "
        "its InvoiceDate's date, or its file's earliest placeable date if unparseable or out of range",
    )
    source_file: str = pa.Field(
        alias="_source_file", description="Path of the landing file the record came from, relative to the landing root"
    )
    source_sheet: str = pa.Field(
        alias="_source_sheet",
        nullable=True,
        description="Worksheet of the .xlsx workbook the record came from; null for CSV",
    )
    source_row: pl.Int64 = pa.Field(
        alias="_source_row",
        ge=1,
        description="1-based number of the record in its file or worksheet, counted after the header",
    )
    file_sha256: str = pa.Field(
        alias="_file_sha256",
        str_matches=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the landing file's bytes: the file version the record came from",
    )
    format: str = pa.Field(
        alias="_format",
        description="How the file was read, "
        "e.g. csv/online_retail_i/utf-8 (kind/header variant/encoding) or xlsx/online_retail_ii",
    )
    ingested_at: UTC_TS = pa.Field(alias="_ingested_at", description="UTC time the run landed the row")
    run_id: str = pa.Field(alias="_run_id", description="Id of the Dagster run that wrote the row")
    first_line: pl.Int64 = pa.Field(  # added in 1.2
        alias="_first_line",
        nullable=True,
        ge=1,
        description="1-based number of the first physical line of the record in its file (the header is line 1; "
        "in a workbook, the sheet's row); null for rows landed before 1.2",
    )
    last_line: pl.Int64 = pa.Field(
        alias="_last_line",
        nullable=True,
        ge=1,
        description="Its last physical line: the same line unless a quoted field holds a line break",
    )
    encoding: str = pa.Field(
        alias="_encoding",
        nullable=True,
        isin=["utf-8", "cp1252", "invalid"],
        description="How the record's lines were decoded: utf-8, cp1252 (a line that is not UTF-8), or invalid "
        "(neither: quarantined as bad_encoding)",
    )
    unbalanced_quote: bool = pa.Field(
        alias="_unbalanced_quote",
        nullable=True,
        description="True when the record is one line whose quote never closes (quarantined as unbalanced_quote; "
        "the lines after it are records of their own)",
    )

    class Config:  # exactly these columns (their order is the writer's: evolved tables append)
        strict = True


class SilverQuarantineModel(BronzeTransactionsModel):
    """silver/quarantine: a bronze row that cannot be trusted, with a stable reason code and a sentence."""

    reason_code: str = pa.Field(
        isin=REASON_CODES,
        description="Stable code of the first rule the row broke, e.g. wrong_field_count, missing_required, "
        "unparseable_date",
    )
    reason: str = pa.Field(
        str_length={"min_value": 1},
        description="One sentence saying what is wrong with the row, e.g. the value that could not be parsed",
    )


class SilverTransactionsModel(pa.DataFrameModel):
    """silver/transactions: typed, deduplicated, classified and enriched sales lines."""

    invoice_no: str = pa.Field(
        str_length={"min_value": 1}, description="Invoice number, trimmed; starts with C on a cancellation"
    )
    stock_code: str = pa.Field(
        str_length={"min_value": 1},
        description="Stock code, trimmed; "
        "products begin with five digits, fees are codes such as POST, DOT, M, BANK CHARGES",
    )
    description: str = pa.Field(
        nullable=True, description="Description, trimmed, runs of whitespace collapsed to one space; null when blank"
    )
    quantity: pl.Int64 = pa.Field(description="Quantity of the line; negative on a cancellation")
    invoice_ts: pl.Datetime(time_unit="us") = pa.Field(
        description="InvoiceDate parsed to a timestamp, without time zone, as the shop wrote it"
    )
    invoice_date: pl.Date = pa.Field(
        description="Business date of the row's partition (the calendar date of InvoiceDate as the shop wrote it)"
    )
    unit_price: float = pa.Field(description="Unit price in GBP")
    customer_id: str = pa.Field(
        nullable=True,
        str_matches=r"^\S+$",
        description="Customer id as silver normalises it (no trailing .0); null when the record has none",
    )
    country: str = pa.Field(
        nullable=True, description="Country as the shop wrote it (trimmed), e.g. EIRE; null for lines without one"
    )
    country_iso2: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code of the country; "
        "null when it has none (e.g. Channel Islands) or is not known",
    )
    region: str = pa.Field(
        nullable=True, description="UN region of the country, e.g. Northern Europe; null when not known"
    )
    line_type: str = pa.Field(
        isin=LINE_TYPES,
        description="sale, cancellation (InvoiceNo starts with C), adjustment (starts with A, "
        "or quantity or price <= 0) or fee (POST, DOT, M, ...)",
    )
    is_product: bool = pa.Field(
        description="True when the stock code begins with five digits: a product, not a fee, postage or manual entry"
    )
    gbp_eur: float = pa.Field(
        nullable=True,
        gt=0,
        description="EUR per 1 GBP on the invoice date (last ECB fixing on or before it); null when no rate is known",
    )
    gbp_usd: float = pa.Field(
        nullable=True,
        gt=0,
        description="USD per 1 GBP on the invoice date (last ECB fixing on or before it, via EUR); "
        "null when no rate is known",
    )
    line_total_gbp: float = pa.Field(description="Line total in GBP: quantity x unit price; negative on a cancellation")
    line_total_eur: float = pa.Field(
        nullable=True, description="Line total in EUR: line_total_gbp x gbp_eur; null without a rate"
    )
    line_total_usd: float = pa.Field(
        nullable=True, description="Line total in USD: line_total_gbp x gbp_usd; null without a rate"
    )
    source_file: str = pa.Field(
        alias="_source_file",
        description="Path of the landing file the line came from, "
        "relative to the landing root (the first copy if duplicated)",
    )
    source_sheet: str = pa.Field(
        alias="_source_sheet",
        nullable=True,
        description="Worksheet of the .xlsx workbook the line came from; null for CSV",
    )
    source_row: pl.Int64 = pa.Field(
        alias="_source_row",
        ge=1,
        description="1-based number of the line's record in its file or worksheet, counted after the header",
    )
    file_sha256: str = pa.Field(
        alias="_file_sha256",
        str_matches=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the landing file's bytes: the file version the line came from",
    )
    run_id: str = pa.Field(alias="_run_id", description="Id of the Dagster run that wrote the row")
    fx_missing_reason: str = pa.Field(  # added in 1.2
        nullable=True,
        description="Why the line has no EUR and USD figures (no ECB fixing within RETAIL_FX_MAX_AGE_DAYS days "
        "on or before its date); null when its rates were found",
    )

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

    business_date: pl.Date = pa.Field(unique=True, description="Business date (partition) the counts are for")
    bronze_rows: pl.Int64 = pa.Field(ge=0, description="Rows of bronze/transactions in the partition")
    silver_rows: pl.Int64 = pa.Field(
        ge=0, description="Rows written to silver/transactions: valid lines, one per set of exact duplicates"
    )
    quarantined_rows: pl.Int64 = pa.Field(ge=0, description="Bronze rows written to silver/quarantine")
    duplicates_dropped: pl.Int64 = pa.Field(
        ge=0,
        description="Valid bronze rows dropped as exact duplicates "
        "(equal on the eight parsed business fields) of a kept line",
    )
    quarantined_by_reason: pl.List(pl.Struct({"reason_code": pl.String, "rows": pl.Int64})) = pa.Field(
        description="Quarantined rows per reason code, as a list of {reason_code, rows} sorted by code; empty when none"
    )
    run_id: str = pa.Field(alias="_run_id", description="Id of the Dagster run that wrote the row")

    class Config:  # exactly these columns (their order is the writer's: evolved tables append)
        strict = True

    @pa.dataframe_check
    def bronze_rows_are_all_accounted_for(cls, data) -> pl.LazyFrame:
        accounted = pl.col("silver_rows") + pl.col("quarantined_rows") + pl.col("duplicates_dropped")
        return data.lazyframe.select(pl.col("bronze_rows") == accounted)


class KpiMeasuresModel(pa.DataFrameModel):
    """The KPI measures shared by the gold marts (DESIGN.md section 4)."""

    gross_revenue_gbp: float = pa.Field(
        ge=0,
        description="Gross revenue in GBP: "
        "sum of quantity x unit price over lines that are not cancellations, with quantity > 0 and unit price > 0",
    )
    gross_revenue_eur: float = pa.Field(
        ge=0,
        description="Gross revenue in EUR: "
        "the gross lines' totals (as in gross_revenue_gbp), at each line's invoice-date rate",
    )
    gross_revenue_usd: float = pa.Field(
        ge=0,
        description="Gross revenue in USD: "
        "the gross lines' totals (as in gross_revenue_gbp), at each line's invoice-date rate",
    )
    product_revenue_gbp: float = pa.Field(
        ge=0, description="Gross revenue in GBP of product lines only (stock code begins with five digits)"
    )
    product_revenue_eur: float = pa.Field(
        ge=0,
        description="Gross revenue in EUR of product lines only (stock code begins with five digits), "
        "at each line's invoice-date rate",
    )
    product_revenue_usd: float = pa.Field(
        ge=0,
        description="Gross revenue in USD of product lines only (stock code begins with five digits), "
        "at each line's invoice-date rate",
    )
    cancelled_revenue_gbp: float = pa.Field(
        description="Cancelled revenue in GBP, positive: minus the sum of quantity x unit price over cancellation lines"
    )
    cancelled_revenue_eur: float = pa.Field(
        description="Cancelled revenue in EUR, positive: "
        "minus the sum of the cancellation lines' totals, at each line's invoice-date rate",
    )
    cancelled_revenue_usd: float = pa.Field(
        description="Cancelled revenue in USD, positive: "
        "minus the sum of the cancellation lines' totals, at each line's invoice-date rate",
    )
    net_revenue_gbp: float = pa.Field(description="Net revenue in GBP: gross_revenue_gbp - cancelled_revenue_gbp")
    net_revenue_eur: float = pa.Field(description="Net revenue in EUR: gross_revenue_eur - cancelled_revenue_eur")
    net_revenue_usd: float = pa.Field(description="Net revenue in USD: gross_revenue_usd - cancelled_revenue_usd")
    orders: pl.Int64 = pa.Field(
        ge=0, description="Orders: distinct non-cancellation invoices with at least one gross line"
    )
    customers: pl.Int64 = pa.Field(
        ge=0, description="Distinct non-null customer ids over the row's lines, cancellations included"
    )
    lines: pl.Int64 = pa.Field(ge=1, description="Silver lines counted in the row, every line type")
    units: pl.Int64 = pa.Field(ge=0, description="Units sold: sum of quantity over gross lines")
    aov_gbp: float = pa.Field(
        nullable=True,
        ge=0,
        description="Average order value in GBP: gross_revenue_gbp / orders, rounded to pennies; "
        "null when there are no orders",
    )
    cancelled_orders: pl.Int64 = pa.Field(  # added in 1.1
        ge=0, description="Cancelled orders: distinct cancellation invoices (InvoiceNo starting with C)"
    )
    cancellation_rate: float = pa.Field(
        nullable=True,
        in_range={"min_value": 0, "max_value": 1},
        description="cancelled_orders / (orders + cancelled_orders); null when there are neither",
    )
    lines_without_fx: pl.Int64 = pa.Field(  # added in 1.2
        ge=0,
        description="Lines of the row without an exchange rate (fx_missing_reason in silver): its EUR and USD "
        "figures leave them out; 0 when complete",
    )

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
    invoice_date: pl.Date = pa.Field(
        description="Business date of the row's partition (the calendar date of InvoiceDate as the shop wrote it)"
    )
    country: str = pa.Field(
        nullable=True, description="Country as the shop wrote it (trimmed), e.g. EIRE; null for lines without one"
    )
    country_iso2: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code of the country; "
        "null when it has none (e.g. Channel Islands) or is not known",
    )


class DailySalesModel(KpiMeasuresModel, _DailyKeys):
    """gold/daily_sales: one row per business date and country as the shop wrote it."""

    class Config:
        strict = True
        unique = ["invoice_date", "country"]


class _MonthKey(pa.DataFrameModel):
    month: pl.Date = pa.Field(description="First day of the calendar month the row covers")


class MonthlyKpisModel(KpiMeasuresModel, _MonthKey):
    """gold/monthly_kpis: one row per calendar month (its first day)."""

    new_customers: pl.Int64 = pa.Field(
        ge=0, description="Customers whose first purchase (first gross line in the whole history) is in this month"
    )
    returning_customers: pl.Int64 = pa.Field(
        ge=0, description="Customers with a gross line this month whose first purchase was in an earlier month"
    )

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

    business_date: pl.Date = pa.Field(description="Business date the scores are for")
    table: str = pa.Field(
        isin=["bronze/transactions", "silver/transactions", "gold/daily_sales"],
        description="Table scored: bronze/transactions, silver/transactions or gold/daily_sales",
    )
    rows: pl.Int64 = pa.Field(ge=0, description="Rows of the table on this business date")
    completeness: float = pa.Field(
        nullable=True,
        in_range={"min_value": 0, "max_value": 1},
        description="Mean non-null share of the table's required fields; null on a day without rows",
    )
    validity: float = pa.Field(
        nullable=True,
        in_range={"min_value": 0, "max_value": 1},
        description="Share of rows that pass (bronze: not quarantined; silver, gold: no failure against the contract); "
        "null on a day without rows",
    )
    uniqueness: float = pa.Field(
        nullable=True,
        in_range={"min_value": 0, "max_value": 1},
        description="1 - the share of rows repeating a business key (bronze: exact duplicates dropped); "
        "null on a day without rows",
    )
    score: float = pa.Field(
        nullable=True,
        in_range={"min_value": 0, "max_value": 1},
        description="Mean of completeness, validity and uniqueness; null on a day without rows",
    )
    quarantined_by_reason: pl.List(pl.Struct({"reason_code": pl.String, "rows": pl.Int64})) = pa.Field(
        nullable=True,
        description="Bronze only: quarantined rows per reason code, as a list of {reason_code, rows}; "
        "null for silver and gold",
    )

    class Config:
        strict = True
        unique = ["business_date", "table"]


class LandedFilesModel(pa.DataFrameModel):
    """bronze/landed_files: the manifest, one row per file ever seen in the landing zone."""

    path: str = pa.Field(unique=True, description="Path of the file, relative to the landing root")
    size_bytes: pl.Int64 = pa.Field(nullable=True, ge=0, description="Size of the file in bytes when last listed")
    mtime: UTC_TS = pa.Field(nullable=True, description="Last-modified time of the file (UTC) when last listed")
    inode: pl.Int64 = pa.Field(  # added in 1.3
        nullable=True, description="Inode number of the file when last listed (a file replaced by rename has a new one)"
    )
    ctime: UTC_TS = pa.Field(
        nullable=True,
        description="Status-change time of the file (UTC) when last listed: any write moves it, and unlike the "
        "mtime no copy tool can set it back (cp -p, rsync -t)",
    )
    sha256: str = pa.Field(
        nullable=True,
        str_matches=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the file's bytes; null when it could not be read",
    )
    format: str = pa.Field(
        nullable=True,
        description="How the file was read, e.g. csv/online_retail_i/utf-8 or xlsx/online_retail_ii; "
        "null when it could not be read",
    )
    extra_columns: pl.List(pl.String) = pa.Field(
        nullable=True,
        description="Header columns beyond the known variant's (kept in bronze's _extra); "
        "null when it could not be read",
    )
    rows: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Records in the file (all sheets of a workbook); null when it could not be read",
    )
    lines: pl.Int64 = pa.Field(  # added in 1.3
        nullable=True,
        ge=0,
        description="Physical lines of the file (a workbook: its sheets' rows, header rows included); "
        "null when it could not be read",
    )
    lines_outside_records: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Its header and blank lines: the lines no record holds. Every other line is in exactly one "
        "record's span (bronze's _first_line.._last_line); null when it could not be read",
    )
    business_dates: pl.List(pl.Date) = pa.Field(
        nullable=True,
        description="Every distinct parseable business date of its records, in the partitions' range or not; "
        "null when unreadable",
    )
    min_date: pl.Date = pa.Field(nullable=True, description="Earliest of business_dates")
    max_date: pl.Date = pa.Field(nullable=True, description="Latest of business_dates")
    status: str = pa.Field(
        isin=["active", "duplicate", "missing", "rejected"],
        description="active (rows belong in bronze), duplicate (byte-identical to an earlier file), "
        "missing (gone) or rejected (unreadable)",
    )
    duplicate_of: str = pa.Field(
        nullable=True, description="Path of the earlier byte-identical file when status is duplicate; null otherwise"
    )
    reason: str = pa.Field(
        nullable=True,
        description="Why the file is rejected, or 'no longer in the landing zone' when missing; "
        "null for active and duplicate files",
    )
    first_seen: UTC_TS = pa.Field(
        nullable=True, description="UTC time the pipeline first saw this path with its current content"
    )

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

    rate_date: pl.Date = pa.Field(description="Date of the ECB fixing")
    currency: str = pa.Field(str_matches=r"^[A-Z]{3}$", description="ISO 4217 code of the quoted currency, e.g. GBP")
    rate_per_eur: float = pa.Field(gt=0, description="Units of the currency per 1 EUR on the fixing date")
    source: str = pa.Field(
        description="Where the payload came from: api or bundle (ecb_bundle in tables written before 0.4)"
    )
    source_name: str = pa.Field(description="The bundle's file (eurofxref-hist.zip) or the API's host")
    payload_sha256: str = pa.Field(
        str_matches=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the payload: the bundle's zip bytes or the API response body",
    )
    # What was asked of an API (null for the bundle): URL without secrets, status, the date range requested.
    request_url: str = pa.Field(
        nullable=True, description="URL requested from the API, secrets removed; null for the bundle"
    )
    http_status: pl.Int32 = pa.Field(nullable=True, description="HTTP status of the API answer; null for the bundle")
    request_start: pl.Date = pa.Field(
        nullable=True, description="First date of the range requested from the API; null for the bundle"
    )
    request_end: pl.Date = pa.Field(
        nullable=True, description="Last date of the range requested from the API; null for the bundle"
    )
    fetched_at: UTC_TS = pa.Field(
        alias="_fetched_at", description="UTC time the payload was fetched (or the bundle read)"
    )
    run_id: str = pa.Field(alias="_run_id", description="Id of the Dagster run that stored the payload")

    class Config:
        strict = True
        unique = ["rate_date", "currency", "payload_sha256"]


class FxDailyModel(pa.DataFrameModel):
    """silver/fx_daily: every calendar day's GBP rates, as of the last fixing on or before it."""

    date: pl.Date = pa.Field(unique=True, description="Calendar day")
    fixing_date: pl.Date = pa.Field(
        description="Date of the ECB fixing used: the last on or before the day with both GBP and USD quoted"
    )
    gbp_eur: float = pa.Field(gt=0, description="EUR per 1 GBP as of that fixing")
    gbp_usd: float = pa.Field(gt=0, description="USD per 1 GBP as of that fixing, crossed through EUR")
    source: str = pa.Field(description="Source of the fixing: api (preferred when it has the date) or bundle")

    class Config:
        strict = True

    @pa.dataframe_check
    def the_fixing_is_on_or_before_the_day(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("fixing_date") <= pl.col("date"))


class CountriesModel(pa.DataFrameModel):
    """bronze/countries: ISO 3166-1 countries with UN region and continent as each source served them, one
    row per (payload, country); a payload is stored once (append-only by ``payload_sha256``)."""

    alpha_2: str = pa.Field(str_matches=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")
    alpha_3: str = pa.Field(str_matches=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 code")
    numeric: str = pa.Field(  # REST Countries has none for Kosovo (XK)
        nullable=True, description="ISO 3166-1 numeric code as text, e.g. 826; null when the source has none"
    )
    name: str = pa.Field(description="Country name: ISO short name (bundle) or REST Countries' common name (API)")
    official_name: str = pa.Field(
        nullable=True, description="Official name of the country; null when the source has none"
    )
    common_name: str = pa.Field(
        nullable=True,
        description="pycountry's common name where it differs from the ISO name (e.g. Bolivia); "
        "null otherwise and from the API",
    )
    un_region: str = pa.Field(
        nullable=True, description="UN region (sub-region), e.g. Northern Europe; null when not known"
    )
    continent: str = pa.Field(
        nullable=True,
        description="Continent as country_converter names it, e.g. Europe or America; null when not known",
    )
    currencies: str = pa.Field(
        nullable=True,
        description="ISO 4217 codes of the country's currencies, comma-separated; "
        "from the API only, null for the bundle",
    )
    source: str = pa.Field(
        description="Where the payload came from: api or bundle (iso_bundle in tables written before 0.4)"
    )
    source_name: str = pa.Field(
        description="The bundle's package versions (e.g. pycountry 26.2.16 + country_converter 1.3.2) or the API's host"
    )
    payload_sha256: str = pa.Field(
        nullable=True,
        str_matches=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the payload: the bundle's rows or the API response body; "
        "null in tables before 0.4",
    )
    request_url: str = pa.Field(
        nullable=True, description="URL requested from the API, secrets removed; null for the bundle"
    )
    http_status: pl.Int32 = pa.Field(nullable=True, description="HTTP status of the API answer; null for the bundle")
    fetched_at: UTC_TS = pa.Field(
        alias="_fetched_at", description="UTC time the payload was fetched (or the bundle read)"
    )
    run_id: str = pa.Field(alias="_run_id", description="Id of the Dagster run that stored the payload")

    class Config:
        strict = True
        unique = ["alpha_2", "payload_sha256"]


class DimCountryModel(pa.DataFrameModel):
    """silver/dim_country: one row per country name as shops write it (normalised)."""

    country_key: str = pa.Field(
        unique=True, description="Lookup key: the country name trimmed, whitespace collapsed, lower-cased, e.g. eire"
    )
    country_iso2: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code; "
        "null for a name without one (Channel Islands, European Community, Unspecified, ...)",
    )
    country_iso3: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{3}$",
        description="ISO 3166-1 alpha-3 code; null for a name without an ISO code",
    )
    country_name: str = pa.Field(
        description="ISO short name of the country, or the shop's spelling for a name with no ISO code"
    )
    region: str = pa.Field(
        nullable=True, description="UN region of the country, e.g. Northern Europe; null when not known"
    )
    continent: str = pa.Field(
        nullable=True,
        description="Continent as country_converter names it, e.g. Europe or America; null when not known",
    )
    match: str = pa.Field(
        isin=["iso_name", "alias", "no_iso"],
        description="How the name was matched: "
        "iso_name (an ISO name or code), alias (the alias table) or no_iso (known, no ISO code)",
    )

    class Config:
        strict = True


class FactSalesModel(pa.DataFrameModel):
    """gold/fact_sales: one row per silver line, keyed to the star's dimensions, measures in three currencies."""

    date_key: pl.Int32 = pa.Field(description="Key of gold/dim_date: the invoice date as yyyymmdd")
    product_key: pl.Int64 = pa.Field(
        ge=0, description="Key of gold/dim_product: first 8 bytes of the BLAKE2b digest of the stock code"
    )
    customer_key: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Key of gold/dim_customer: first 8 bytes of the BLAKE2b digest of the customer id; "
        "null without one",
    )
    country_key: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Key of gold/dim_country: first 8 bytes of the BLAKE2b digest of the normalised country name; "
        "null without one",
    )
    invoice_date: pl.Date = pa.Field(
        description="Business date of the row's partition (the calendar date of InvoiceDate as the shop wrote it)"
    )
    invoice_no: str = pa.Field(description="Invoice number; starts with C on a cancellation")
    line_type: str = pa.Field(
        isin=LINE_TYPES,
        description="sale, cancellation (InvoiceNo starts with C), adjustment (starts with A, "
        "or quantity or price <= 0) or fee (POST, DOT, M, ...)",
    )
    is_product: bool = pa.Field(
        description="True when the stock code begins with five digits: a product, not a fee, postage or manual entry"
    )
    is_gross: bool = pa.Field(
        description="True when the line counts in gross revenue: not a cancellation, quantity > 0 and unit price > 0"
    )
    quantity: pl.Int64 = pa.Field(description="Quantity of the line; negative on a cancellation")
    unit_price: float = pa.Field(description="Unit price in GBP")
    line_total_gbp: float = pa.Field(description="Line total in GBP: quantity x unit price; negative on a cancellation")
    line_total_eur: float = pa.Field(
        nullable=True, description="Line total in EUR: line_total_gbp x gbp_eur; null without a rate"
    )
    line_total_usd: float = pa.Field(
        nullable=True, description="Line total in USD: line_total_gbp x gbp_usd; null without a rate"
    )
    source_file: str = pa.Field(
        alias="_source_file", description="Path of the landing file the line came from, relative to the landing root"
    )
    source_row: pl.Int64 = pa.Field(
        alias="_source_row",
        ge=1,
        description="1-based number of the line's record in its file or worksheet, counted after the header",
    )

    class Config:
        strict = True

    @pa.dataframe_check
    def date_key_is_the_invoice_date(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("date_key").cast(pl.String).str.to_date("%Y%m%d") == pl.col("invoice_date"))


class DimDateModel(pa.DataFrameModel):
    """gold/dim_date: one row per calendar day of the years with sales."""

    date_key: pl.Int32 = pa.Field(unique=True, description="The date as yyyymmdd, e.g. 20101201")
    date: pl.Date = pa.Field(unique=True, description="Calendar day")
    year: pl.Int32 = pa.Field(description="Calendar year")
    quarter: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 4}, description="Calendar quarter, 1-4")
    month: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 12}, description="Month number, 1-12")
    month_name: str = pa.Field(description="English name of the month, e.g. December")
    month_start: pl.Date = pa.Field(description="First day of the date's month")
    iso_year: pl.Int32 = pa.Field(description="ISO 8601 week-numbering year")
    iso_week: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 53}, description="ISO 8601 week number, 1-53")
    day_of_month: pl.Int8 = pa.Field(in_range={"min_value": 1, "max_value": 31}, description="Day of the month, 1-31")
    day_of_week: pl.Int8 = pa.Field(
        in_range={"min_value": 1, "max_value": 7}, description="ISO day of the week: 1 = Monday to 7 = Sunday"
    )
    weekday_name: str = pa.Field(description="English name of the weekday, e.g. Monday")
    is_weekend: bool = pa.Field(description="True on Saturday and Sunday")
    is_uk_bank_holiday: bool = pa.Field(
        description="True on a bank holiday of England and Wales (the holidays package's rules)"
    )
    uk_holiday_name: str = pa.Field(
        nullable=True, description="Name of the England and Wales bank holiday; null on other days"
    )

    class Config:
        strict = True


class DimProductModel(pa.DataFrameModel):
    """gold/dim_product: one row per stock code ever seen."""

    product_key: pl.Int64 = pa.Field(
        unique=True, ge=0, description="Surrogate key: first 8 bytes of the BLAKE2b digest of the stock code"
    )
    stock_code: str = pa.Field(unique=True, description="Stock code, as in silver")
    description: str = pa.Field(
        nullable=True,
        description="Most frequent non-null description of the stock code (ties: the alphabetically first); "
        "null if it never had one",
    )
    is_product: bool = pa.Field(
        description="True when the stock code begins with five digits: a product, not a fee, postage or manual entry"
    )
    first_seen: pl.Date = pa.Field(description="First business date of any line with the stock code")
    last_seen: pl.Date = pa.Field(description="Last business date of any line with the stock code")
    first_sold: pl.Date = pa.Field(
        nullable=True, description="First business date of a gross line with the stock code; null if never sold"
    )
    last_sold: pl.Date = pa.Field(
        nullable=True, description="Last business date of a gross line with the stock code; null if never sold"
    )

    class Config:
        strict = True


class DimCustomerModel(pa.DataFrameModel):
    """gold/dim_customer: one row per customer id ever seen."""

    customer_key: pl.Int64 = pa.Field(
        unique=True, ge=0, description="Surrogate key: first 8 bytes of the BLAKE2b digest of the customer id"
    )
    customer_id: str = pa.Field(unique=True, description="Customer id as silver normalises it (no trailing .0)")
    country: str = pa.Field(
        nullable=True,
        description="The country the customer has most lines in (ties: the alphabetically first), as the shop wrote it",
    )
    country_iso2: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code of that country; null when it has none or is not known",
    )
    first_purchase: pl.Date = pa.Field(
        nullable=True,
        description="First business date of a gross line of the customer; null if they never bought (only cancelled)",
    )
    last_purchase: pl.Date = pa.Field(
        nullable=True,
        description="Last business date of a gross line of the customer; null if they never bought (only cancelled)",
    )
    cohort_month: pl.Date = pa.Field(
        nullable=True, description="First day of the month of the first purchase; null if they never bought"
    )

    class Config:
        strict = True


class GoldDimCountryModel(pa.DataFrameModel):
    """gold/dim_country: silver/dim_country with a surrogate key, plus the names it does not know."""

    country_key: pl.Int64 = pa.Field(
        unique=True, ge=0, description="Surrogate key: first 8 bytes of the BLAKE2b digest of country_lookup"
    )
    country_lookup: str = pa.Field(
        unique=True,
        description="Normalised country name (silver/dim_country's country_key): "
        "trimmed, whitespace collapsed, lower-cased",
    )
    country_iso2: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code; "
        "null for a name without one (Channel Islands, European Community, Unspecified, ...)",
    )
    country_iso3: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{3}$",
        description="ISO 3166-1 alpha-3 code; null for a name without an ISO code",
    )
    country_name: str = pa.Field(
        description="ISO short name, or the shop's spelling for a name with no ISO code or unknown to the lookup"
    )
    region: str = pa.Field(
        nullable=True, description="UN region of the country, e.g. Northern Europe; null when not known"
    )
    continent: str = pa.Field(
        nullable=True,
        description="Continent as country_converter names it, e.g. Europe or America; null when not known",
    )
    match: str = pa.Field(
        isin=["iso_name", "alias", "no_iso", "unknown"],
        description="iso_name, alias or no_iso as in silver/dim_country, or unknown: "
        "a name in the sales the lookup does not know",
    )

    class Config:
        strict = True


class ProductPerformanceModel(pa.DataFrameModel):
    """gold/product_performance: per month and product, gross revenue, units, orders and rank."""

    month: pl.Date = pa.Field(description="First day of the calendar month")
    product_key: pl.Int64 = pa.Field(
        ge=0, description="Key of gold/dim_product: first 8 bytes of the BLAKE2b digest of the stock code"
    )
    stock_code: str = pa.Field(description="Stock code of the product (codes beginning with five digits only)")
    description: str = pa.Field(
        nullable=True, description="The product's most frequent description (from gold/dim_product)"
    )
    revenue_gbp: float = pa.Field(
        ge=0, description="Gross revenue of the product in the month, GBP: quantity x unit price over its gross lines"
    )
    revenue_eur: float = pa.Field(
        nullable=True,
        ge=0,
        description="Gross revenue of the product in the month in EUR, at each line's invoice-date rate",
    )
    revenue_usd: float = pa.Field(
        nullable=True,
        ge=0,
        description="Gross revenue of the product in the month in USD, at each line's invoice-date rate",
    )
    units: pl.Int64 = pa.Field(
        ge=1, description="Units sold: sum of quantity over the product's gross lines in the month"
    )
    orders: pl.Int64 = pa.Field(ge=1, description="Distinct invoices with a gross line of the product in the month")
    customers: pl.Int64 = pa.Field(
        ge=0, description="Distinct non-null customer ids on the product's gross lines in the month"
    )
    revenue_rank: pl.Int32 = pa.Field(
        ge=1, description="Rank of revenue_gbp within the month: 1 = highest; ties share a rank"
    )

    class Config:
        strict = True
        unique = ["month", "stock_code"]


class ProductFeaturesModel(pa.DataFrameModel):
    """gold/product_features: per product, the whole-history features a recommender needs."""

    product_key: pl.Int64 = pa.Field(
        unique=True, ge=0, description="Surrogate key: first 8 bytes of the BLAKE2b digest of the stock code"
    )
    stock_code: str = pa.Field(
        unique=True, description="Stock code of the product (codes beginning with five digits only)"
    )
    orders: pl.Int64 = pa.Field(
        ge=1, description="Popularity: distinct invoices with a gross line of the product, over the whole history"
    )
    popularity_rank: pl.Int32 = pa.Field(ge=1, description="Rank by orders: 1 = most orders; ties share a rank")
    customers: pl.Int64 = pa.Field(ge=0, description="Distinct non-null customer ids on the product's gross lines")
    units: pl.Int64 = pa.Field(ge=1, description="Units sold: sum of quantity over the product's gross lines")
    revenue_gbp: float = pa.Field(ge=0, description="Gross revenue of the product in GBP over the whole history")
    cancellation_rate: float = pa.Field(
        in_range={"min_value": 0, "max_value": 1},
        description="Cancellation lines / (gross lines + cancellation lines) of the product",
    )
    first_sold: pl.Date = pa.Field(description="First business date of a gross line of the product")
    last_sold: pl.Date = pa.Field(description="Last business date of a gross line of the product")

    class Config:
        strict = True


class CustomerRfmModel(pa.DataFrameModel):
    """gold/customer_rfm: per customer with a purchase, RFM figures, scores, segment and features."""

    customer_key: pl.Int64 = pa.Field(
        unique=True, ge=0, description="Surrogate key: first 8 bytes of the BLAKE2b digest of the customer id"
    )
    customer_id: str = pa.Field(unique=True, description="Customer id as silver normalises it (no trailing .0)")
    recency_days: pl.Int64 = pa.Field(
        ge=1, description="Days from the last purchase to as_of (the day after the last business date in the data)"
    )
    frequency: pl.Int64 = pa.Field(
        ge=1, description="Orders: distinct invoices with a gross line of the customer, over the whole history"
    )
    monetary_gbp: float = pa.Field(gt=0, description="Gross revenue of the customer in GBP, over the whole history")
    r_score: pl.Int8 = pa.Field(
        in_range={"min_value": 1, "max_value": 5},
        description="Recency quintile score, 1-5: 5 = the most recent buyers; equal values score the same",
    )
    f_score: pl.Int8 = pa.Field(
        in_range={"min_value": 1, "max_value": 5},
        description="Frequency quintile score, 1-5: 5 = the most orders; equal values score the same",
    )
    m_score: pl.Int8 = pa.Field(
        in_range={"min_value": 1, "max_value": 5},
        description="Monetary quintile score, 1-5: 5 = the highest gross revenue; equal values score the same",
    )
    rfm_score: str = pa.Field(
        str_matches=r"^[1-5]{3}$", description="r_score, f_score and m_score as three digits, e.g. 545"
    )
    segment: str = pa.Field(
        isin=["champions", "loyal", "new", "potential_loyalists", "at_risk", "hibernating", "lost"],
        description="First rule that matches on r_score and f_score: "
        "champions, loyal, new, potential_loyalists, at_risk, hibernating or lost",
    )
    avg_basket_gbp: float = pa.Field(gt=0, description="Average order value in GBP: monetary_gbp / frequency")
    tenure_days: pl.Int64 = pa.Field(ge=0, description="Days from the first purchase to the last")
    avg_days_between_orders: float = pa.Field(
        nullable=True, ge=0, description="tenure_days / (frequency - 1); null for a customer with one order"
    )
    first_purchase: pl.Date = pa.Field(description="First business date of a gross line of the customer")
    last_purchase: pl.Date = pa.Field(description="Last business date of a gross line of the customer")
    as_of: pl.Date = pa.Field(
        description="The day after the last business date in the data: the date recency is measured to"
    )

    class Config:
        strict = True


class CountrySalesModel(KpiMeasuresModel):
    """gold/country_sales: one row per month and country as the shop wrote it."""

    month: pl.Date = pa.Field(description="First day of the calendar month")
    country: str = pa.Field(
        nullable=True, description="Country as the shop wrote it (trimmed), e.g. EIRE; null for lines without one"
    )
    country_iso2: str = pa.Field(
        nullable=True,
        str_matches=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code of the country; "
        "null when it has none (e.g. Channel Islands) or is not known",
    )
    region: str = pa.Field(
        nullable=True, description="UN region of the country, e.g. Northern Europe; null when not known"
    )

    class Config:
        strict = True
        unique = ["month", "country"]


class ErasedRowsModel(pa.DataFrameModel):
    """bronze/erased_rows: per business date and landing-file version, the records bronze did not land because
    their customer is in the erasure register. With bronze's rows they account for every record of the active
    files; no customer id is kept here."""

    partition_date: pl.Date = pa.Field(
        alias="_partition_date", description="Business date (partition) the records would have been landed in"
    )
    source_file: str = pa.Field(
        alias="_source_file", description="Path of the landing file holding the records, relative to the landing root"
    )
    file_sha256: str = pa.Field(
        alias="_file_sha256",
        str_matches=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the landing file version holding the records",
    )
    rows_erased: pl.Int64 = pa.Field(
        ge=1, description="Records of this date and file version not landed: their customer is in the erasure register"
    )
    run_id: str = pa.Field(alias="_run_id", description="Id of the Dagster run that wrote the row")
    lines_erased: pl.Int64 = pa.Field(  # added in 1.3
        nullable=True,
        ge=1,
        description="Physical lines of those records (more than rows_erased when a quoted field holds a line "
        "break); null for rows written before 1.3",
    )

    class Config:
        strict = True
        unique = ["_partition_date", "_source_file", "_file_sha256"]


class ErasedCustomersModel(pa.DataFrameModel):
    """bronze/erased_customers: the erasure register, written only by ``retail-pipeline forget-customer``. Its
    customers' records never land in bronze again, whatever file brings them."""

    customer_id: str = pa.Field(
        unique=True, str_matches=r"^\S+$", description="The erased customer's id as silver normalises it (no trailing .0)"
    )
    requested_at: UTC_TS = pa.Field(
        description="UTC time of the first erasure request (retail-pipeline forget-customer)"
    )

    class Config:
        strict = True


def column_descriptions(model: type[pa.DataFrameModel]) -> dict[str, str]:
    """Column name -> its description in the contract (columns without one are left out)."""
    return {name: column.description for name, column in model.to_schema().columns.items() if column.description}


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

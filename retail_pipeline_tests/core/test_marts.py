"""The star schema and the product, customer (RFM) and country marts on a hand-made silver frame; every
expected figure is worked out by hand in the comments."""

from datetime import date

import polars as pl
import pytest

from retail_pipeline.core import contracts
from retail_pipeline.core.invariants import contract_failures
from retail_pipeline.core.transforms import kpis as gold
from retail_pipeline.core.transforms import marts, star

J10, J20, M30, M31 = date(2011, 1, 10), date(2011, 1, 20), date(2011, 3, 30), date(2011, 3, 31)
UK, IE, FR = "United Kingdom", "EIRE", "France"


def silver() -> pl.LazyFrame:
    # invoice, date, stock, description, qty, price, line_type, is_product, customer, country
    rows = [
        ("1", J10, "10001", "MUG", 2, 5.0, "sale", True, "A", UK),  # gross 10
        ("1", J10, "POST", "POSTAGE", 1, 3.0, "fee", False, "A", UK),  # gross 3, not a product
        ("2", date(2011, 2, 10), "10001", "MUG RED", 1, 5.0, "sale", True, "A", UK),  # gross 5
        ("3", M30, "10002", "BOWL", 4, 2.5, "sale", True, "A", UK),  # gross 10
        ("4", J20, "10001", "MUG", 3, 5.0, "sale", True, "B", IE),  # gross 15
        ("C5", date(2011, 1, 21), "10001", "MUG", -1, 5.0, "cancellation", True, "B", IE),  # cancelled 5
        ("6", M31, "10002", "BOWL", 10, 2.5, "sale", True, "C", FR),  # gross 25
        ("7", date(2011, 2, 15), "10003", "LAMP", 1, 40.0, "sale", True, "D", FR),  # gross 40
        ("8", date(2011, 1, 5), "10002", "BOWL", 2, 2.5, "sale", True, "E", UK),  # gross 5
        ("9", date(2011, 3, 1), "10003", "LAMP", 1, 40.0, "sale", True, None, "Unspecified"),  # gross 40
        ("A10", date(2011, 3, 2), "10001", "MUG", -2, 0.0, "adjustment", True, None, UK),  # nothing
    ]
    names = ["invoice_no", "invoice_date", "stock_code", "description", "quantity", "unit_price", "line_type",
             "is_product", "customer_id", "country"]
    frame = pl.DataFrame(rows, schema=names, orient="row").with_row_index("_source_row", offset=1)
    iso = {UK: "GB", IE: "IE", FR: "FR"}
    return frame.lazy().with_columns(
        pl.col("_source_row").cast(pl.Int64),
        pl.lit("day.csv").alias("_source_file"),
        pl.col("country").replace_strict(iso, default=None).alias("country_iso2"),
        pl.lit("Europe").alias("region"),
        (pl.col("quantity") * pl.col("unit_price")).alias("line_total_gbp"),
        (pl.col("quantity") * pl.col("unit_price") * 1.2).alias("line_total_eur"),
        (pl.col("quantity") * pl.col("unit_price") * 1.5).alias("line_total_usd"),
    )


def test_surrogate_keys_are_a_function_of_the_natural_key():
    import hashlib

    keys = pl.DataFrame({"code": ["10001", None, "10001", "POST"]}).select(star.surrogate_key(pl.col("code")))
    expected = int.from_bytes(hashlib.blake2b(b"10001", digest_size=8).digest(), "big") >> 1
    assert keys["code"].to_list() == [expected, None, expected, keys["code"][3]]
    assert keys["code"][3] != expected and keys["code"][3] >= 0
    assert pl.select(star.date_key(pl.lit(date(2010, 12, 1)))).item() == 20101201


def test_fact_sales_keeps_every_line_and_reconciles_with_silver():
    fact = star.fact_sales(silver()).collect()
    assert fact.schema == contracts.FACT_SALES and fact.height == 11
    assert fact["line_total_gbp"].sum() == silver().collect()["line_total_gbp"].sum()
    assert fact.filter(pl.col("is_gross"))["line_total_gbp"].sum() == 153.0  # 10+3+5+10+15+25+40+5+40
    products = star.dim_product(silver()).collect()
    assert set(fact["product_key"]) == set(products["product_key"])  # every fact row finds its product
    assert fact.filter(pl.col("customer_key").is_null()).height == 2
    assert fact.filter(pl.col("invoice_no") == "1")["date_key"].to_list() == [20110110, 20110110]
    assert contract_failures(contracts.FactSalesModel, fact).height == 0


def test_dim_product_takes_the_most_frequent_description_and_the_dates_seen_and_sold():
    got = star.dim_product(silver()).collect()
    assert got.schema == contracts.DIM_PRODUCT and got["stock_code"].to_list() == ["10001", "10002", "10003", "POST"]
    mug = got.row(0, named=True)
    # MUG on four lines, MUG RED on one; seen until the adjustment of 03-02, sold until 02-10.
    assert (mug["description"], mug["first_seen"], mug["last_seen"]) == ("MUG", J10, date(2011, 3, 2))
    assert (mug["first_sold"], mug["last_sold"], mug["is_product"]) == (J10, date(2011, 2, 10), True)
    assert got.filter(pl.col("stock_code") == "POST")["is_product"].to_list() == [False]
    assert contract_failures(contracts.DimProductModel, got).height == 0


def test_dim_customer_has_country_first_purchase_and_cohort():
    got = star.dim_customer(silver()).collect()
    assert got["customer_id"].to_list() == ["A", "B", "C", "D", "E"]
    b = got.row(1, named=True)
    assert (b["country"], b["country_iso2"], b["first_purchase"], b["cohort_month"]) == (IE, "IE", J20, date(2011, 1, 1))
    assert got.row(0, named=True)["last_purchase"] == M30
    assert contract_failures(contracts.DimCustomerModel, got).height == 0


def test_gold_dim_country_adds_the_names_the_lookup_does_not_know():
    lookup = pl.LazyFrame(
        {
            "country_key": ["united kingdom", "eire", "france"],
            "country_iso2": ["GB", "IE", "FR"],
            "country_iso3": ["GBR", "IRL", "FRA"],
            "country_name": ["United Kingdom", "Ireland", "France"],
            "region": ["Northern Europe", "Northern Europe", "Western Europe"],
            "continent": ["Europe"] * 3,
            "match": ["iso_name", "alias", "iso_name"],
        }
    )
    got = star.gold_dim_country(lookup, silver()).collect()
    assert got["country_lookup"].to_list() == ["eire", "france", "united kingdom", "unspecified"]
    assert got.filter(pl.col("match") == "unknown")["country_name"].to_list() == ["Unspecified"]
    fact = star.fact_sales(silver()).collect()
    assert set(fact["country_key"]) <= set(got["country_key"])
    assert contract_failures(contracts.GoldDimCountryModel, got).height == 0


def test_dim_date_has_calendar_attributes_and_uk_bank_holidays():
    got = star.dim_date(date(2010, 12, 1), date(2011, 12, 9))
    assert got.height == 365 + 365 and got["date"].min() == date(2010, 1, 1)
    wedding = got.filter(pl.col("date") == date(2011, 4, 29)).row(0, named=True)  # a one-off bank holiday
    assert wedding["is_uk_bank_holiday"] and "Wedding" in wedding["uk_holiday_name"]
    day = got.filter(pl.col("date") == date(2011, 1, 1)).row(0, named=True)  # a Saturday, ISO week 52 of 2010
    assert (day["date_key"], day["day_of_week"], day["is_weekend"], day["iso_year"], day["iso_week"]) == (20110101, 6, True, 2010, 52)
    assert (day["quarter"], day["month_name"], day["weekday_name"]) == (1, "January", "Saturday")
    assert contract_failures(contracts.DimDateModel, got).height == 0


def test_monthly_kpis_split_new_and_returning_customers_and_rate_cancellations():
    got = gold.monthly_kpis(silver()).collect()
    jan, feb, mar = got.rows(named=True)
    # January: A, B and E buy for the first time; B's C5 is the one cancelled invoice of 4 (1, 4, 8, C5).
    assert (jan["new_customers"], jan["returning_customers"], jan["customers"]) == (3, 0, 3)
    assert (jan["orders"], jan["cancelled_orders"], jan["cancellation_rate"]) == (3, 1, 0.25)
    assert (feb["new_customers"], feb["returning_customers"], feb["cancellation_rate"]) == (1, 1, 0.0)  # D new, A back
    assert (mar["new_customers"], mar["returning_customers"], mar["customers"]) == (1, 1, 2)  # C new, A back
    assert contract_failures(contracts.MonthlyKpisModel, got).height == 0


def test_product_performance_ranks_products_within_each_month():
    dims = star.dim_product(silver())
    got = marts.product_performance(silver(), dims).collect()
    table = got.select("month", "stock_code", "revenue_gbp", "units", "orders", "customers", "revenue_rank").rows()
    assert table == [
        (date(2011, 1, 1), "10001", 25.0, 5, 2, 2, 1),  # 10 (A) + 15 (B); POST is not a product
        (date(2011, 1, 1), "10002", 5.0, 2, 1, 1, 2),
        (date(2011, 2, 1), "10003", 40.0, 1, 1, 1, 1),
        (date(2011, 2, 1), "10001", 5.0, 1, 1, 1, 2),
        (date(2011, 3, 1), "10003", 40.0, 1, 1, 0, 1),  # bought without a customer id
        (date(2011, 3, 1), "10002", 35.0, 14, 2, 2, 2),
    ]
    assert got.filter(pl.col("stock_code") == "10001")["description"].unique().to_list() == ["MUG"]
    assert got["revenue_eur"][0] == pytest.approx(30.0)
    assert contract_failures(contracts.ProductPerformanceModel, got).height == 0


def test_product_features_for_a_recommender():
    got = marts.product_features(silver()).collect()
    rows = got.select("stock_code", "orders", "popularity_rank", "customers", "units", "revenue_gbp", "cancellation_rate").rows()
    assert rows == [
        ("10001", 3, 1, 2, 6, 30.0, 0.25),  # gross lines 1, 2, 4 and one cancellation line: 1 / (3 + 1)
        ("10002", 3, 1, 3, 16, 40.0, 0.0),
        ("10003", 2, 3, 1, 2, 80.0, 0.0),
    ]
    assert got.filter(pl.col("stock_code") == "10002").select("first_sold", "last_sold").row(0) == (date(2011, 1, 5), M31)
    assert contract_failures(contracts.ProductFeaturesModel, got).height == 0


def test_customer_rfm_scores_and_segments():
    got = marts.customer_rfm(silver()).collect()
    # As of 2011-04-01. Recency A 2, B 71, C 1, D 45, E 86; frequency A 3, others 1; monetary A 28 (10 + 3 +
    # 5 + 10), B 15, C 25, D 40, E 5. Five customers: a score is the rank (equal frequencies share rank 1).
    rows = got.select("customer_id", "recency_days", "frequency", "monetary_gbp", "rfm_score", "segment").rows()
    assert rows == [
        ("A", 2, 3, 28.0, "454", "champions"),
        ("B", 71, 1, 15.0, "212", "hibernating"),
        ("C", 1, 1, 25.0, "513", "new"),
        ("D", 45, 1, 40.0, "315", "potential_loyalists"),
        ("E", 86, 1, 5.0, "111", "lost"),
    ]
    a = got.row(0, named=True)
    # A bought on 01-10, 02-10 and 03-30: tenure 79 days, two gaps averaging 39.5, basket 28 / 3.
    assert (a["tenure_days"], a["avg_days_between_orders"], a["as_of"]) == (79, 39.5, date(2011, 4, 1))
    assert a["avg_basket_gbp"] == pytest.approx(28 / 3)
    assert got.row(1, named=True)["avg_days_between_orders"] is None
    assert contract_failures(contracts.CustomerRfmModel, got).height == 0


def test_country_sales_per_month_and_country():
    got = marts.country_sales(silver()).collect()
    eire = got.filter((pl.col("month") == date(2011, 1, 1)) & (pl.col("country") == IE)).row(0, named=True)
    assert (eire["gross_revenue_gbp"], eire["cancelled_revenue_gbp"], eire["net_revenue_gbp"]) == (15.0, 5.0, 10.0)
    assert (eire["orders"], eire["cancelled_orders"], eire["cancellation_rate"], eire["country_iso2"]) == (1, 1, 0.5, "IE")
    uk = got.filter((pl.col("month") == date(2011, 1, 1)) & (pl.col("country") == UK)).row(0, named=True)
    assert (uk["gross_revenue_gbp"], uk["orders"], uk["customers"], uk["aov_gbp"]) == (18.0, 2, 2, 9.0)
    assert got["gross_revenue_gbp"].sum() == gold.monthly_kpis(silver()).collect()["gross_revenue_gbp"].sum()
    assert contract_failures(contracts.CountrySalesModel, got).height == 0


def test_csv_exports_neutralise_spreadsheet_formulas_and_keep_numbers():
    from retail_pipeline.adapters.sql import render

    frame = pl.DataFrame(
        {
            "description": ["=HYPERLINK(\"http://127.0.0.1\")", "+44 123", "@SUM(A1)", "-2.5", "plain", "\t=1+1", None],
            "quantity": [-1, 2, 3, -4, 5, 6, 7],
        }
    )
    text = next(render(frame, "csv"))
    back = pl.read_csv(text.encode())
    assert back["description"].to_list() == [
        "'=HYPERLINK(\"http://127.0.0.1\")", "'+44 123", "'@SUM(A1)", "-2.5", "plain", "'\t=1+1", None
    ]
    assert back["quantity"].to_list() == [-1, 2, 3, -4, 5, 6, 7]  # numbers stay numbers
    assert next(render(frame, "json")).startswith('[{"description":"=HYPERLINK')  # JSON is data, not a sheet

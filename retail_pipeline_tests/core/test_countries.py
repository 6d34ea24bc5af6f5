"""Tests for retail_pipeline.core.enrichment.countries: ISO rows from the bundles and the shop-name lookup."""

from __future__ import annotations

import importlib.metadata

import polars as pl
import pytest

from retail_pipeline.adapters.reference_bundles import read_bundled_countries
from retail_pipeline.core.enrichment.countries import (
    COUNTRY_ALIASES,
    COUNTRY_SOURCE_BUNDLE,
    NO_ISO_CONTINENTS,
    NO_ISO_REGIONS,
    build_dim_country,
    normalise_country_key,
)


@pytest.fixture(scope="module")
def countries() -> pl.DataFrame:
    return read_bundled_countries()


@pytest.fixture(scope="module")
def dim(countries) -> pl.DataFrame:
    return build_dim_country(countries)


def _lookup(dim: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Resolve shop names the way silver does: normalise, then left-join to the dimension."""
    shops = pl.LazyFrame({"country": names}, schema={"country": pl.String})
    return (
        shops.with_columns(normalise_country_key(pl.col("country")).alias("country_key"))
        .join(dim.lazy(), on="country_key", how="left", maintain_order="left")
        .collect()
    )


# --- read_bundled_countries -------------------------------------------------------------------


def test_countries_schema_and_source(countries):
    assert countries.columns == [
        "alpha_2",
        "alpha_3",
        "numeric",
        "name",
        "official_name",
        "common_name",
        "un_region",
        "continent",
        "currencies",
        "source",
        "source_name",
        "payload_sha256",
        "request_url",
        "http_status",
    ]
    assert all(dtype == pl.String for name, dtype in countries.schema.items() if name != "http_status")
    assert countries["source"].unique().to_list() == [COUNTRY_SOURCE_BUNDLE] == ["bundle"]
    # The bundle's payload hash is the hash of its rows: stable, so a re-run appends nothing.
    assert countries["payload_sha256"].unique().to_list() == [read_bundled_countries()["payload_sha256"][0]]
    assert countries.select("currencies", "request_url", "http_status").null_count().row(0) == (countries.height,) * 3
    versions = (importlib.metadata.version("pycountry"), importlib.metadata.version("country_converter"))
    assert countries["source_name"].unique().to_list() == [f"pycountry {versions[0]} + country_converter {versions[1]}"]


def test_countries_one_row_per_iso_country(countries):
    import pycountry

    assert countries.height == len(pycountry.countries)
    for col in ("alpha_2", "alpha_3", "numeric", "name"):
        assert countries[col].null_count() == 0
        assert countries[col].is_unique().all()
    assert countries["alpha_2"].is_sorted()
    # Every ISO country found its region and continent in coco's table.
    assert countries["continent"].null_count() == 0


def test_countries_namibia_code_is_a_string(countries):
    namibia = countries.filter(pl.col("alpha_3") == "NAM").row(0, named=True)
    assert namibia["alpha_2"] == "NA"
    assert namibia["name"] == "Namibia"
    assert namibia["un_region"] == "Southern Africa"
    assert namibia["continent"] == "Africa"


def test_countries_known_rows(countries):
    gb = countries.filter(pl.col("alpha_2") == "GB").row(0, named=True)
    assert gb == {
        **gb,
        "alpha_3": "GBR",
        "numeric": "826",
        "name": "United Kingdom",
        "official_name": "United Kingdom of Great Britain and Northern Ireland",
        "un_region": "Northern Europe",
        "continent": "Europe",
    }
    aruba = countries.filter(pl.col("alpha_2") == "AW").row(0, named=True)
    assert aruba["official_name"] is None  # nullable, not "" and not "None"


# --- normalise_country_key --------------------------------------------------------------------


def test_normalise_country_key():
    got = pl.select(
        normalise_country_key(pl.lit(pl.Series(["  united   KINGDOM ", "United Kingdom", "EIRE\t", None])))
    ).to_series()
    assert got.to_list() == ["united kingdom", "united kingdom", "eire", None]


# --- build_dim_country ------------------------------------------------------------------------


def test_dim_schema(dim):
    assert dim.schema == pl.Schema(
        {
            "country_key": pl.String,
            "country_iso2": pl.String,
            "country_iso3": pl.String,
            "country_name": pl.String,
            "region": pl.String,
            "continent": pl.String,
            "match": pl.String,
        }
    )
    assert set(dim["match"].unique().to_list()) == {"iso_name", "alias", "no_iso"}
    assert dim["country_name"].null_count() == 0


def test_dim_keys_unique_and_normalised(dim):
    assert dim["country_key"].null_count() == 0
    assert dim["country_key"].is_unique().all()
    assert dim.select((pl.col("country_key") == normalise_country_key(pl.col("country_key"))).all()).item()


def test_dim_accepts_lazy_input_and_is_deterministic(countries, dim):
    assert build_dim_country(countries.lazy()).equals(dim)
    shuffled = countries.sample(fraction=1.0, shuffle=True, seed=7)
    assert build_dim_country(shuffled).equals(dim)


def test_dim_clashing_iso_keys_resolve_deterministically(countries):
    # Two ISO rows whose names normalise to the same key: the better field (name over official_name)
    # wins, and between equals the smaller alpha-2.
    a = countries.filter(pl.col("alpha_2") == "FR").with_columns(official_name=pl.lit("Gaul"))
    b = countries.filter(pl.col("alpha_2") == "BE").with_columns(name=pl.lit("GAUL  "))
    c = countries.filter(pl.col("alpha_2") == "CH").with_columns(name=pl.lit("Helvetia"))
    d = countries.filter(pl.col("alpha_2") == "AT").with_columns(name=pl.lit("helvetia"))
    rest = countries.filter(~pl.col("alpha_2").is_in(["FR", "BE", "CH", "AT"]))
    for order in ([a, b, c, d, rest], [rest, d, c, b, a]):
        got = build_dim_country(pl.concat(order))
        assert got["country_key"].is_unique().all()
        keyed = dict(got.select("country_key", "country_iso2").iter_rows())
        assert keyed["gaul"] == "BE"  # BE's name beats FR's official name
        assert keyed["helvetia"] == "AT"  # both are names: AT < CH


def test_dim_alias_to_missing_code_is_an_error(countries):
    with pytest.raises(ValueError, match="ie"):
        build_dim_country(countries.filter(pl.col("alpha_2") != "IE"))


UCI_ONLINE_RETAIL = [
    # (shop name, ISO2, region or None to skip the region check)
    ("United Kingdom", "GB", "Northern Europe"),
    ("France", "FR", "Western Europe"),
    ("Australia", "AU", "Australia and New Zealand"),
    ("Netherlands", "NL", "Western Europe"),
    ("Germany", "DE", "Western Europe"),
    ("Norway", "NO", "Northern Europe"),
    ("EIRE", "IE", "Northern Europe"),
    ("Switzerland", "CH", "Western Europe"),
    ("Spain", "ES", "Southern Europe"),
    ("Poland", "PL", "Eastern Europe"),
    ("Portugal", "PT", "Southern Europe"),
    ("Italy", "IT", "Southern Europe"),
    ("Belgium", "BE", "Western Europe"),
    ("Lithuania", "LT", "Northern Europe"),
    ("Japan", "JP", "Eastern Asia"),
    ("Iceland", "IS", "Northern Europe"),
    ("Channel Islands", None, "Northern Europe"),
    ("Denmark", "DK", "Northern Europe"),
    ("Cyprus", "CY", "Western Asia"),  # UN M49 places Cyprus in Western Asia
    ("Sweden", "SE", "Northern Europe"),
    ("Austria", "AT", "Western Europe"),
    ("Israel", "IL", "Western Asia"),
    ("Finland", "FI", "Northern Europe"),
    ("Bahrain", "BH", "Western Asia"),
    ("Greece", "GR", "Southern Europe"),
    ("Hong Kong", "HK", "Eastern Asia"),
    ("Singapore", "SG", "South-eastern Asia"),
    ("Lebanon", "LB", "Western Asia"),
    ("United Arab Emirates", "AE", "Western Asia"),
    ("Saudi Arabia", "SA", "Western Asia"),
    ("Czech Republic", "CZ", "Eastern Europe"),
    ("Canada", "CA", "Northern America"),
    ("Unspecified", None, None),
    ("Brazil", "BR", "South America"),
    ("USA", "US", "Northern America"),
    ("European Community", None, None),
    ("Malta", "MT", "Southern Europe"),
    ("RSA", "ZA", "Southern Africa"),
]


def test_every_uci_online_retail_country_resolves(dim):
    names = [name for name, _, _ in UCI_ONLINE_RETAIL]
    got = _lookup(dim, names)
    assert got.height == len(names)  # the join did not fan out
    assert got["match"].null_count() == 0, got.filter(pl.col("match").is_null())["country"].to_list()
    for (name, iso2, region), row in zip(UCI_ONLINE_RETAIL, got.iter_rows(named=True), strict=True):
        assert row["country"] == name
        assert row["country_iso2"] == iso2, name
        if region is not None or iso2 is None:
            assert row["region"] == region, name


def test_no_iso_entries(dim):
    got = {r["country"]: r for r in _lookup(dim, ["Channel Islands", "European Community", "Unspecified"]).iter_rows(named=True)}
    assert got["Channel Islands"] == {
        "country": "Channel Islands",
        "country_key": "channel islands",
        "country_iso2": None,
        "country_iso3": None,
        "country_name": "Channel Islands",
        "region": "Northern Europe",
        "continent": "Europe",
        "match": "no_iso",
    }
    assert got["European Community"]["region"] is None
    assert got["European Community"]["continent"] == "Europe"
    assert got["European Community"]["match"] == "no_iso"
    assert got["Unspecified"]["region"] is None
    assert got["Unspecified"]["country_iso2"] is None
    assert got["Unspecified"]["match"] == "no_iso"


def test_aliases_and_iso_names(dim):
    got = _lookup(dim, ["EIRE", "RSA", "USA", "UK", "Great Britain", "Korea", "Czech Republic", "Hong Kong",
                        "France", "FRA", "fr", "Czechia", "Namibia", "NA"])
    rows = {r["country"]: r for r in got.iter_rows(named=True)}
    assert rows["EIRE"]["country_iso2"] == "IE" and rows["EIRE"]["match"] == "alias"
    assert rows["EIRE"]["country_name"] == "Ireland"
    assert rows["RSA"]["country_iso3"] == "ZAF"
    assert rows["UK"]["country_iso2"] == rows["Great Britain"]["country_iso2"] == "GB"
    assert rows["Korea"]["country_iso2"] == "KR"
    assert rows["Czech Republic"]["country_name"] == "Czechia"
    for code in ("France", "FRA", "fr"):
        assert rows[code]["country_iso2"] == "FR"
        assert rows[code]["match"] == "iso_name"
    assert rows["Czechia"]["match"] == "iso_name"
    assert rows["Namibia"]["country_iso2"] == "NA"
    assert rows["NA"]["country_iso2"] == "NA"
    assert rows["Namibia"]["region"] == "Southern Africa"


def test_united_kingdom_spellings_share_one_key(dim):
    got = _lookup(dim, ["  united   KINGDOM ", "United Kingdom"])
    assert got["country_key"].n_unique() == 1
    assert got["country_iso2"].to_list() == ["GB", "GB"]
    assert got["region"].to_list() == ["Northern Europe", "Northern Europe"]


def test_alias_tables_are_consistent():
    keys = pl.select(normalise_country_key(pl.lit(pl.Series(list(COUNTRY_ALIASES))))).to_series()
    assert keys.is_unique().all(), "two aliases normalise to the same key"
    no_iso = {name for name, code in COUNTRY_ALIASES.items() if code is None}
    assert no_iso <= set(NO_ISO_REGIONS), "every no-ISO alias states its region (None if unknown)"
    assert set(NO_ISO_REGIONS) == set(NO_ISO_CONTINENTS)
    for name, code in COUNTRY_ALIASES.items():
        assert code is None or (len(code) == 2 and code.isupper()), name


def test_reading_the_bundles_does_not_import_country_converter():
    # country_converter's package __init__ imports pandas and its API breaks under pandas 3: we only read
    # its data file. Checked in a fresh interpreter, since other tests may have imported it.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from retail_pipeline.adapters import reference_bundles as bundles\n"
        "from retail_pipeline.core.enrichment import countries, fx\n"
        "countries.build_dim_country(bundles.read_bundled_countries())\n"
        "fx.build_fx_daily(bundles.read_bundled_ecb_rates()[0])\n"
        "assert 'country_converter' not in sys.modules, 'country_converter was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

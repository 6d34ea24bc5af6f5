"""Shared fixtures: small landing files written as shops write them, and a temporary lakehouse."""

import os
from pathlib import Path

import pytest

# Tests never touch the repo's instance or data: each test that needs Dagster gets its own instance.
os.environ.pop("RETAIL_LANDING_DIR", None)
os.environ.pop("RETAIL_LAKEHOUSE_URI", None)
# ... and never a real API: a test that wants one points these at its own server on 127.0.0.1.
for _name in [n for n in os.environ if n.startswith(("RETAIL_FX_API_", "RETAIL_COUNTRIES_API_", "RETAIL_API_"))]:
    del os.environ[_name]
os.environ["DAGSTER_DISABLE_TELEMETRY"] = "1"

HEADER_I = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def write_csv(path: Path, lines: list[str], header: str = HEADER_I, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


@pytest.fixture
def lakehouse_root(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"

"""Shared fixtures: small landing files written as shops write them, and a temporary lakehouse."""

import faulthandler
import os
from pathlib import Path

import pytest

FAULT_LOGS = Path(__file__).resolve().parents[1] / "data" / "test-faults"
_fault_log = None


def pytest_configure(config):
    """A native crash of a test process (a segfault or abort in a compiled library) is written with every
    thread's Python stack to data/test-faults/<worker>.log, which `make test` prints last when the suite fails:
    a crashed pytest-xdist worker otherwise leaves only the tail of the dump, without the crashing thread."""
    global _fault_log
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    FAULT_LOGS.mkdir(parents=True, exist_ok=True)
    if worker is None:  # the controller (or a run without xdist): logs of an earlier run are not this one's
        for old in FAULT_LOGS.glob("*.log"):
            old.unlink()
        _remove_old_shared_builds()
    _fault_log = open(FAULT_LOGS / f"{worker or 'main'}.log", "w")  # noqa: SIM115 (open as long as the process)
    faulthandler.enable(file=_fault_log, all_threads=True)
    if worker is not None:
        _start_healing_scenario()


def pytest_collection_modifyitems(items):
    """The tests of the healing scenario (built in the background as the session starts) run after those of
    ``core/``: by then it is ready, and no worker waits idle for it."""
    waiting = [item for item in items if "scenario" in getattr(item, "fixturenames", ())]
    if not waiting:
        return
    rest = [item for item in items if "scenario" not in getattr(item, "fixturenames", ())]
    after = max((i for i, item in enumerate(rest) if "/core/" in str(item.path)), default=len(rest) - 1) + 1
    items[:] = rest[:after] + waiting + rest[after:]


def _remove_old_shared_builds() -> None:
    """The healing scenarios and API sites of sessions that ended over an hour ago."""
    import shutil
    import tempfile
    import time

    temp = Path(tempfile.gettempdir())
    for old in [*temp.glob("retail-healing-*"), *temp.glob("retail-api-site-*")]:
        if time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


def _start_healing_scenario() -> None:
    """Build the healing tests' scenario (app/healing_scenario.py: three pipeline runs) in the background as an
    xdist session starts, once for all workers, so that no worker waits idle for it later."""
    import fcntl
    import subprocess
    import sys

    from retail_pipeline_tests.app.healing_scenario import shared_dir

    root = shared_dir()
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root.exists():
            return  # another worker started it
        root.mkdir()
        log = open(f"{root}.log", "w")  # noqa: SIM115 (the builder's output)
        subprocess.Popen(
            [sys.executable, "-m", "retail_pipeline_tests.app.healing_scenario", str(root)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

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

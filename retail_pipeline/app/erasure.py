"""The right to erasure: ``retail-pipeline forget-customer ID`` removes one customer from every table of the
lakehouse, from the warehouse and (where the marts are published there) from Postgres, and deletes the old
files that held them.

The landing zone is the source of truth (DESIGN.md "Landing"), so removing rows from the tables is not enough:
the next rebuild would land them again. The customer goes into an erasure register, ``bronze/erased_customers``
(``customer_id`` as silver normalises it, ``requested_at``), and bronze never lands a record of a registered
customer again, whatever file brings it (a re-landed or changed file, ``run --full``). Bronze counts what it
left out per business date and file version in ``bronze/erased_rows`` (no customer id there), so that the
records of the active files stay accounted for: a bronze partition is exactly the records of the active files
that contain its dates, minus the registered customers' records.

What the command cannot erase, and says so:

- the landing files themselves: the operator redacts or deletes them (the register keeps their records out of
  bronze meanwhile; a deleted file is marked ``missing`` and its rows leave bronze when its dates are rebuilt);
- Dagster's event log: each materialisation records a preview of the first 5 rows of the table it wrote, with
  the customer columns hidden (``retail_pipeline.core.preview``); runs made by releases before that may show the
  customer there (delete those runs in the UI, or wipe the instance's storage);
- the backups of a Postgres database the marts are published to (its own retention);
- the register itself holds the customer's id: it is what keeps them out.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from retail_pipeline.adapters.erasure_register import REGISTER, Found, find_customer, register, registered
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.maintenance import Vacuumed, vacuum_all
from retail_pipeline.adapters.postgres_marts import PublishError
from retail_pipeline.adapters.staging import StagedRecords
from retail_pipeline.app.runner import RunFailed, run_pipeline
from retail_pipeline.core.erasure import customer_key, normalise_id
from retail_pipeline.core.tables import catalogue
from retail_pipeline.defs.resources import build_resources


class ErasureError(RuntimeError):
    """The customer could not be verified gone; the message names the tables that still hold them."""


CANNOT_ERASE = (
    "Not erased by this command: (1) the landing files that hold the customer: redact or delete them (the "
    "register keeps their records out of bronze meanwhile; a file landed again is parsed into the staging "
    "cache, _staging, like any new file, and its copy goes when the file does); (2) Dagster's event log of runs "
    "made by releases before previews hid customer columns: their asset metadata shows 5 rows of each table "
    "they wrote (delete those runs in the UI, or wipe the instance's storage); (3) the backups of a Postgres "
    "database the marts are published to (its point-in-time recovery keeps old versions for its own retention); "
    "(4) the register bronze/erased_customers keeps the id: it is what keeps them out."
)


@dataclass
class ErasureReport:
    customer_id: str
    known: bool  # found anywhere, or registered before
    newly_registered: bool = False
    before: Found | None = None
    rewritten: list[str] = field(default_factory=list)
    vacuumed: list[Vacuumed] = field(default_factory=list)
    after: Found | None = None
    pipeline: object = None  # the runner's PipelineReport of the rebuild
    postgres: dict[str, int] | None = None  # rows left per published table, where the marts go to Postgres


def forget_customer(
    landing: str | None,
    lakehouse: str | None,
    customer: str,
    instance,
    say: Callable[[str], None] = print,
    now: datetime | None = None,
) -> ErasureReport:
    """Register the customer, rebuild the business dates they appear in and the whole-history marts (the
    warehouse and the report with them) through Dagster as ``retail-pipeline run`` does, vacuum every table
    with no retention, and verify that no row of the customer remains. An unknown customer (in no table, not
    registered) changes nothing. ``ErasureError`` if a row remains; ``RunFailed`` if a run fails (the
    customer is registered by then: run the command again to finish)."""
    customer_id = normalise_id(customer)
    resources = build_resources(landing, lakehouse)
    house: Lakehouse = resources["lakehouse"]
    warehouse = Path(resources["duckdb"].database)

    before = find_customer(house, customer_id, warehouse)
    already = customer_id in registered(house).to_list()
    report = ErasureReport(customer_id, known=before.total > 0 or already, before=before)
    if not report.known:
        return report

    if before.total:
        where = ", ".join(f"{t} ({n})" for t, n in {**before.rows, **{f"warehouse {k}": v for k, v in before.warehouse.items()}}.items() if n)
        say(f"customer {customer_id}: {before.total:,} rows in {where}")
    report.newly_registered = register(house, customer_id, now or datetime.now(timezone.utc))
    say(
        f"customer {customer_id}: "
        + ("added to" if report.newly_registered else "already in")
        + f" the erasure register {REGISTER}: no landing file brings their records back"
    )

    versions = {t: house.version(t) for t in catalogue() if house.exists(t)}
    try:
        report.pipeline = run_pipeline(landing, lakehouse, instance, say=say, also=before.dates, history=True)
    except RunFailed as exc:
        raise RunFailed(
            f"{exc}\nCustomer {customer_id} is in the erasure register, so no later run lands them again; run "
            f"`retail-pipeline forget-customer {customer_id}` again to finish removing them and vacuum."
        ) from exc
    report.rewritten = [t for t in catalogue() if house.exists(t) and house.version(t) != versions.get(t)]

    # The staged records are the landing files parsed (adapters/staging.py), the customer's records included:
    # gone with the rest; bronze reads the landing files themselves until a file is landed again.
    StagedRecords(house.root).clear()
    say("vacuuming every table with no retention, and purging the Delta logs of old versions ...")
    report.vacuumed = vacuum_all(house)
    report.after = find_customer(house, customer_id, warehouse)
    left = report.after.holding() + [
        f"{v.table} ({v.files_left_unreferenced} old files left in storage)" for v in report.vacuumed if v.files_left_unreferenced
    ]
    if "postgres" in resources:  # the rebuild above published the marts again (a whole-history output)
        try:
            # Outside a run, the resource's dg.EnvVar fields are resolved here.
            postgres = resources["postgres"].process_config_and_initialize()
            report.postgres = postgres.customer_rows(customer_id, customer_key(customer_id))
        except PublishError as exc:
            raise ErasureError(f"customer {customer_id}: the Postgres marts could not be checked ({exc})") from None
        left += [f"postgres {table} ({n})" for table, n in report.postgres.items() if n]
    if left:
        raise ErasureError(f"customer {customer_id} is still in: {', '.join(left)}")
    return report


def erasure_summary(report: ErasureReport) -> str:
    """What was removed, rewritten and vacuumed, the verification, and what the command cannot erase."""
    if not report.known:
        return (
            f"customer {report.customer_id}: no row in any table of the lakehouse or in the warehouse, and not in "
            f"the erasure register: nothing changed. (Check the id; a customer only in landing files not landed "
            "yet is not known here.)"
        )
    before = report.before
    layers = {layer: 0 for layer in ("bronze", "silver", "gold")}
    for table, n in before.rows.items():
        layers[table.split("/")[0]] += n
    layers["warehouse"] = sum(before.warehouse.values())
    lines = [
        "Rows removed: " + ", ".join(f"{layer} {n:,}" for layer, n in layers.items()),
        f"Tables rewritten: {len(report.rewritten)} ({', '.join(report.rewritten) or 'none'})",
        f"Files vacuumed: {sum(v.files_vacuumed for v in report.vacuumed):,} old data files deleted from "
        f"{len(report.vacuumed)} tables (retention 0), and the Delta logs of old versions",
        f"Verified: 0 rows of customer {report.customer_id} remain in the {len(report.after.rows)} tables with a "
        "customer column and in the warehouse file"
        + (f", nor in the {len(report.postgres)} published Postgres tables with one." if report.postgres is not None else "."),
        CANNOT_ERASE,
    ]
    return "\n".join(lines)

"""The ``retail-pipeline`` command line: ``generate`` synthetic landing files, ``run`` or ``backfill`` the
pipeline, look at the ``quarantine``, query the tables with ``sql``, ``serve`` them over HTTP (with keys from
``api-key``), ``maintain`` them, and ``forget-customer`` (right to erasure)."""

import argparse
import sys
import time
import warnings
from datetime import date
from pathlib import Path

from retail_pipeline.settings import Settings


def _generate(args: argparse.Namespace) -> int:
    from retail_pipeline.app.generate import generate_landing

    started = time.perf_counter()
    result = generate_landing(Path(args.out), rows=args.rows, seed=args.seed, start=args.start, end=args.end)
    print(
        f"wrote {result.rows:,} rows in {len(result.files)} daily files to {args.out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of the environment, with the command's ``--landing`` and ``--lakehouse``; a bad value is a
    ``SettingsError`` (one line per bad variable, exit 2)."""
    return Settings.from_env(landing_dir=getattr(args, "landing", None), lakehouse_uri=getattr(args, "lakehouse", None))


def _materialise(args: argparse.Namespace, work, summarise=None) -> int:
    """Shared by ``run``, ``backfill`` and ``forget-customer``: check the settings and the landing zone, call
    ``work(landing, instance)``, print its summary, and turn the errors a user can act on into one line and an
    exit code."""
    from retail_pipeline.adapters.writer_lock import LakehouseBusy, LakehouseUnreachable
    from retail_pipeline.app.runner import RunFailed, instance_for_cli, summary

    landing = _settings(args).landing_dir
    if not Path(landing).is_dir():
        print(f"error: landing zone {landing} is not a directory (set --landing or RETAIL_LANDING_DIR)", file=sys.stderr)
        return 2
    try:
        with _writer_lock(args):
            report = work(landing, instance_for_cli())
    except (RunFailed, LakehouseUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except LakehouseBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: nothing was done, try again later
    print((summarise or summary)(report))
    return 0


def _writer_lock(args: argparse.Namespace):
    """The lakehouse's writer lock for the whole command (``adapters/writer_lock.py``): a second runner
    (another command, a run launched by ``make dev``) waits for it, or with ``--no-wait`` exits 75."""
    from retail_pipeline.adapters.lakehouse import Lakehouse
    from retail_pipeline.adapters.writer_lock import writer_lock

    settings = _settings(args)
    what = f"`retail-pipeline {args.command}`"
    return writer_lock(
        Lakehouse.from_settings(settings), what, wait=not args.no_wait, say=print, lease_seconds=settings.lock_lease_s
    )


def _run(args: argparse.Namespace) -> int:
    def work(landing, instance):
        from retail_pipeline.app.runner import run_pipeline

        return run_pipeline(landing, args.lakehouse, instance, full=args.full)

    return _materialise(args, work)


def _backfill(args: argparse.Namespace) -> int:
    def work(landing, instance):
        from retail_pipeline.app.runner import backfill

        chunk = args.chunk if args.chunk is not None else _settings(args).max_partitions_per_run
        return backfill(landing, args.lakehouse, instance, args.first, args.last, chunk)

    return _materialise(args, work)


def _quarantine(args: argparse.Namespace) -> int:
    from retail_pipeline.adapters.lakehouse import Lakehouse, MissingTableError
    from retail_pipeline.app.quarantine import quarantine_report

    lakehouse = Lakehouse.from_settings(_settings(args))
    try:
        print(quarantine_report(lakehouse, args.date, args.examples))
    except MissingTableError:
        print(f"error: no silver/quarantine table under {lakehouse.root}: run `retail-pipeline run` first", file=sys.stderr)
        return 2
    return 0


def _sql(args: argparse.Namespace) -> int:
    from retail_pipeline.adapters.lakehouse import Lakehouse
    from retail_pipeline.adapters.sql import SqlError, query, render

    settings = _settings(args)  # a bad RETAIL_SQL_* value: exit 2
    lakehouse = Lakehouse.from_settings(settings)
    try:
        for chunk in render(query(lakehouse, args.query, settings), args.format, args.max_rows):
            print(chunk)
    except SqlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _paths(args: argparse.Namespace) -> int:
    import json

    where = _settings(args).paths()
    if args.json:
        print(json.dumps(where, indent=2))
    else:
        for name, path in where.items():
            print(f"{name + ':':<17} {path if path is not None else '(none: runs use a temporary instance)'}")
    return 0


def _maintain(args: argparse.Namespace) -> int:
    from retail_pipeline.app.runner import instance_for_cli
    from retail_pipeline.core.errors import root_cause
    from retail_pipeline.defs.definitions import build_definitions
    from retail_pipeline.defs.maintenance import maintenance_run_config

    settings = _settings(args)  # a bad RETAIL_VACUUM_RETENTION_HOURS: exit 2
    from retail_pipeline.adapters.writer_lock import LakehouseBusy, LakehouseUnreachable

    retention = settings.vacuum_retention_hours if args.retention_hours is None else args.retention_hours
    try:
        with _writer_lock(args):
            result = build_definitions(settings).resolve_job_def("maintenance_job").execute_in_process(
                instance=instance_for_cli(),
                run_config={**maintenance_run_config(retention), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                raise_on_error=False,
            )
    except LakehouseBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75
    except LakehouseUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not result.success:
        errors = [root_cause(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
        print(f"error: maintenance failed (run {result.run_id}): {'; '.join(errors)}", file=sys.stderr)
        return 1
    print(f"{'table':<28} {'stored files':>14} {'active files':>14} {'stored MiB':>14}")
    for event in result.all_events:
        if event.event_type_value != "ASSET_OBSERVATION":
            continue
        observation = event.event_specific_data.asset_observation
        m = {k: v.value for k, v in observation.metadata.items()}
        mib = (
            f"{m['bytes_stored_before'] / 2**20:6.1f} -> {m['bytes_stored_after'] / 2**20:5.1f}"
            if "bytes_stored_before" in m else "-"
        )
        print(
            f"{observation.asset_key.to_user_string():<28} {m['files_stored_before']:>6} -> {m['files_stored_after']:<5}"
            f" {m['files_active_before']:>6} -> {m['files_active_after']:<5} {mib:>14}"
        )
    return 0


def _forget_customer(args: argparse.Namespace) -> int:
    """Exit 0: erased and verified, or an unknown customer (nothing changed); 1: a run failed or a row
    remains (named); 2: a bad id or a missing landing zone."""
    from retail_pipeline.app.erasure import ErasureError, erasure_summary, forget_customer
    from retail_pipeline.core.erasure import normalise_id

    try:
        normalise_id(args.customer_id)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def work(landing, instance):
        return forget_customer(landing, args.lakehouse, args.customer_id, instance)

    try:
        return _materialise(args, work, summarise=erasure_summary)
    except ErasureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace) -> int:
    from retail_pipeline.app.api.server import serve

    settings = _settings(args)  # a bad RETAIL_API_* value: exit 2, before the server starts
    serve(settings, args.host, args.port)
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from retail_pipeline.adapters.api_keys import ApiKeyError, KeyStore, parse_scopes

    store = KeyStore(_settings(args).api_state_dir)
    try:
        if args.action == "create":
            key = store.create(args.name, parse_scopes(args.scopes))
            print(f"created key {args.name!r} with scopes {args.scopes}; it is shown once, here (only its SHA-256 is kept):")
            print(key)
        elif args.action == "revoke":
            store.revoke(args.name)
            print(f"revoked key {args.name!r}")
        else:
            keys = store.keys()
            if not keys:
                print(f"no API keys (in {store.path}): make one with `retail-pipeline api-key create`")
            for key in keys:
                print(f"{key.name:<24} {','.join(sorted(key.scopes)):<24} created {key.created_at}")
    except (ApiKeyError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2010-12-01") from exc


def _no_wait(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-wait", action="store_true",
        help="if another runner is writing the lakehouse, exit (code 75) instead of waiting for it",
    )


def build_parser() -> argparse.ArgumentParser:
    from retail_pipeline.app.generate import DEFAULT_END, DEFAULT_ROWS, DEFAULT_START

    parser = argparse.ArgumentParser(prog="retail-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write synthetic Online Retail landing files, one CSV per day")
    gen.add_argument("--out", required=True, help="directory to write the files into")
    gen.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"total data lines (default {DEFAULT_ROWS:,})")
    gen.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default 42)")
    gen.add_argument("--start", type=_date, default=DEFAULT_START, help=f"first business date (default {DEFAULT_START})")
    gen.add_argument("--end", type=_date, default=DEFAULT_END, help=f"last business date, inclusive (default {DEFAULT_END})")
    gen.set_defaults(handler=_generate)

    run = commands.add_parser("run", help="land the landing zone and materialise what changed")
    run.add_argument("--landing", help="landing zone (default $RETAIL_LANDING_DIR or data/landing)")
    run.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    run.add_argument(
        "--full", action="store_true", help="rebuild every business date with data, not only the ones that changed"
    )
    _no_wait(run)
    run.set_defaults(handler=_run)

    backfill = commands.add_parser(
        "backfill", help="rebuild a range of business dates in chunks of single-run ranges (bounded memory)"
    )
    backfill.add_argument("--from", dest="first", type=_date, required=True, help="first business date")
    backfill.add_argument("--to", dest="last", type=_date, required=True, help="last business date, inclusive")
    backfill.add_argument(
        "--chunk", type=int, default=None,
        help="most partitions per run (default $RETAIL_MAX_PARTITIONS_PER_RUN or 366)",
    )
    backfill.add_argument("--landing", help="landing zone (default $RETAIL_LANDING_DIR or data/landing)")
    backfill.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    _no_wait(backfill)
    backfill.set_defaults(handler=_backfill)

    quarantine = commands.add_parser("quarantine", help="summarise quarantined rows by reason, with examples")
    quarantine.add_argument("--date", type=_date, help="one business date (default: all)")
    quarantine.add_argument("--examples", type=int, default=3, help="example rows per reason (default 3)")
    quarantine.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    quarantine.set_defaults(handler=_quarantine)

    sql = commands.add_parser(
        "sql",
        help="run one read-only SQL query (DuckDB) over the tables: gold by name, others as silver_<name>, bronze_<name>",
    )
    sql.add_argument("query", help='e.g. "SELECT month, gross_revenue_gbp FROM monthly_kpis ORDER BY month"')
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default table)")
    sql.add_argument("--max-rows", type=int, default=100, help="rows shown in table format (default 100)")
    sql.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    sql.set_defaults(handler=_sql)

    paths = commands.add_parser(
        "paths",
        help="print where everything of a lakehouse lives: tables, landing zone, warehouse, reports, Dagster instance",
    )
    paths.add_argument("--landing", help="landing zone (default $RETAIL_LANDING_DIR or data/landing)")
    paths.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    paths.add_argument("--json", action="store_true", help="one JSON object instead of aligned lines")
    paths.set_defaults(handler=_paths)

    serve = commands.add_parser("serve", help="serve the lakehouse over HTTP: the read API (FastAPI on uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, the loopback)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    serve.set_defaults(handler=_serve)

    api_key = commands.add_parser("api-key", help="create, list or revoke the keys of the read API")
    key_actions = api_key.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create", help="make a key; it is printed once, on the last line")
    create.add_argument("--name", required=True, help="a name for the key (letters, digits, . _ -)")
    create.add_argument("--scopes", required=True, help="comma-separated, from read, pii, upload, run")
    revoke = key_actions.add_parser("revoke", help="revoke a key by name (at once, without a server restart)")
    revoke.add_argument("name")
    key_actions.add_parser("list", help="the keys' names, scopes and creation times (never the keys)")
    for sub in key_actions.choices.values():
        sub.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    api_key.set_defaults(handler=_api_key)

    maintain = commands.add_parser("maintain", help="compact, checkpoint and vacuum every table (the weekly job)")
    maintain.add_argument(
        "--retention-hours", type=int, default=None,
        help="keep files that versions younger than this need (default $RETAIL_VACUUM_RETENTION_HOURS or 168)",
    )
    maintain.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    _no_wait(maintain)
    maintain.set_defaults(handler=_maintain)

    forget = commands.add_parser(
        "forget-customer",
        help="erase one customer from every table and the warehouse, then vacuum the old files (right to erasure)",
        description="Register the customer in bronze/erased_customers (no landing file brings them back), rebuild "
        "the business dates they appear in and the whole-history marts, the warehouse and the report, vacuum "
        "every table with no retention and purge old Delta log versions, then verify that 0 rows remain. "
        "It cannot erase the landing files (redact or delete them) nor the row previews in Dagster's event log "
        "of runs made before previews hid customer columns. Exit 0: erased, or an unknown id (nothing "
        "changed); 1: a run failed or a row remains; 2: a bad id or no landing zone.",
    )
    forget.add_argument("customer_id", help="the CustomerID, as in the exports (17850 or 17850.0)")
    forget.add_argument("--landing", help="landing zone (default $RETAIL_LANDING_DIR or data/landing)")
    forget.add_argument("--lakehouse", help="lakehouse root (default $RETAIL_LAKEHOUSE_URI or data/lakehouse)")
    _no_wait(forget)
    forget.set_defaults(handler=_forget_customer)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster marks single-run backfill policies as beta; a user of the CLI cannot act on that warning.
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

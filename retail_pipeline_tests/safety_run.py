"""One run of a pipeline job in a process of its own, on the Dagster instance at ``DAGSTER_HOME``: the crash and
concurrency tests (test_safety.py) start it as a subprocess so that runs really are separate processes.

    python -m retail_pipeline_tests.safety_run JOB[,JOB...] [FIRST LAST] [--barrier FILE] [--multiprocess METHOD]

The landing zone and the lakehouse come from ``RETAIL_LANDING_DIR`` / ``RETAIL_LAKEHOUSE_URI`` (as for a
deployment). The jobs run one after the other and the first failure stops. ``FIRST``/``LAST`` is the inclusive range of business dates of a daily job. ``--barrier`` waits,
after every import and the definitions are loaded, until FILE exists, so that two processes released together
really write at the same time. ``--multiprocess spawn|forkserver`` runs ``partitions_job`` with Dagster's multiprocess
executor (``RETAIL_EXECUTOR=multiprocess``, two steps at a time) instead of in this process. The last line of
stdout is JSON: per job, success, run id, the failed steps with their root errors and every asset check's
outcome and severity.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from retail_pipeline.app.runner import QUIET
from retail_pipeline.core.errors import root_cause
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG


def partitions_job() -> dg.JobDefinition:
    """The job as a deployment loads it, rebuilt by name in each step process of the multiprocess executor."""
    return build_definitions().resolve_job_def("partitions_job")


def _outcome(result) -> dict:
    failures = {
        event.step_key: root_cause(event.event_specific_data.error)
        for event in result.all_events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    }
    checks = {
        f"{'/'.join(evaluation.asset_key.path)}:{evaluation.check_name}": {
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
        }
        for evaluation in result.get_asset_check_evaluations()
    }
    return {"success": result.success, "run_id": result.run_id, "failures": failures, "checks": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs", help="comma-separated job names")
    parser.add_argument("dates", nargs="*")
    parser.add_argument("--barrier")
    parser.add_argument("--multiprocess", choices=("spawn", "forkserver"))
    args = parser.parse_args(argv)
    tags = {RANGE_START_TAG: args.dates[0], RANGE_END_TAG: args.dates[-1]} if args.dates else {}
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME: persistent, as the multiprocess executor requires
    defs = build_definitions()
    jobs = [defs.resolve_job_def(name) for name in args.jobs.split(",")]
    if args.barrier:
        Path(args.barrier + f".ready.{os.getpid()}").touch()
        while not Path(args.barrier).exists():
            time.sleep(0.005)
    outcomes = {}
    for job in jobs:
        outcomes[job.name] = _run(job, instance, args, tags if job.partitions_def is not None else {})
        if not outcomes[job.name]["success"]:
            break
    print(json.dumps({"pid": os.getpid(), "jobs": outcomes}), flush=True)
    return 0 if all(outcome["success"] for outcome in outcomes.values()) else 1


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, args, tags: dict) -> dict:
    if args.multiprocess and job.name == "partitions_job":
        if job.executor_def.name != "multiprocess":
            raise SystemExit(f"RETAIL_EXECUTOR=multiprocess is not in effect: the job's executor is {job.executor_def.name}")
        # The forkserver imports this module (hence dagster, polars, deltalake and the definitions) once and
        # forks each step from it: 31 s for this job here, against ~70 s when every step imports them itself.
        method = {"preload_modules": ["retail_pipeline_tests.safety_run"]} if args.multiprocess == "forkserver" else {}
        run_config = {
            **QUIET,
            "execution": {"config": {"start_method": {args.multiprocess: method}, "max_concurrent": 2}},
        }
        # Imported by its module name (not __main__) so that each step process can rebuild the job from it.
        from retail_pipeline_tests import safety_run

        with dg.execute_job(
            dg.reconstructable(safety_run.partitions_job), instance=instance, run_config=run_config, tags=tags
        ) as result:
            outcome = _outcome(result)
            outcome["executor"] = job.executor_def.name
            outcome["step_pids"] = sorted(
                {event.pid for event in result.all_events if event.is_step_start and event.pid is not None}
            )
    else:
        result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET, raise_on_error=False)
        outcome = _outcome(result)
    return outcome


if __name__ == "__main__":
    sys.exit(main())

"""How assets are partitioned and wired: the decorator arguments shared by the daily assets (business-date
partitions, one run per range) and by the whole-history marts (rebuilt when the planner finds them behind),
and the inputs named by the table registry."""

import dagster as dg

from retail_pipeline.core import tables
from retail_pipeline.core.tables import Table
from retail_pipeline.defs.partitions import daily_partitions

DELTA = {"delta", "polars"}

# A daily asset: one business date, or a range of them in one run (Dagster's default would be one run per
# partition: seconds each, hundreds of them in a backfill).
DAILY = {"partitions_def": daily_partitions, "backfill_policy": dg.BackfillPolicy.single_run()}
DAILY_MART = {**DAILY, "group_name": "gold", "kinds": DELTA}
# A whole-history mart: rebuilt from all of silver when the planner finds it behind (``core/planning.py``:
# what it read has moved), by `retail-pipeline run` or the landing sensor; not by an automation condition,
# which would be a second planner deciding the same thing.
HISTORY_MART = {"group_name": "gold", "kinds": DELTA}


def key_of(table: Table) -> dg.AssetKey:
    return dg.AssetKey(list(table.key))


def input_of(table: Table) -> dg.AssetIn:
    """An input that reads ``table`` (the window of the run for a daily table and a daily asset)."""
    return dg.AssetIn(key=key_of(table))


SILVER_IN = {"silver": input_of(tables.SILVER_TRANSACTIONS)}

"""The code location: Dagster (``dagster dev``, ``dagster definitions validate``, ``dg check defs``, the
compose stack's code server) loads ``defs`` from here, and builds it from the environment only then."""

import dagster as dg

from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())

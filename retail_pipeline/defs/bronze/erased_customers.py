"""bronze/erased_customers: the erasure register, an external asset."""

import dagster as dg

from retail_pipeline.core import tables
from retail_pipeline.defs.policies import key_of

# Written by `retail-pipeline forget-customer`, never by a
# run, so it is an external asset here; bronze reads it to leave its customers' records out.
erased_customers = dg.AssetsDefinition(
    specs=[
        dg.AssetSpec(
            key=key_of(tables.ERASED_CUSTOMERS),
            group_name="bronze",
            kinds={"delta"},
            description="The erasure register: customers (customer_id as silver writes it, requested_at) whose "
            "records bronze never lands again. Written by `retail-pipeline forget-customer ID`.",
        )
    ]
)

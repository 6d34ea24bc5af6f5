"""Pure transforms of each layer: polars frames in, polars frames out, no IO and no Dagster."""

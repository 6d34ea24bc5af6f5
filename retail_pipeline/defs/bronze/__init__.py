"""Bronze assets: data as it arrived, plus lineage."""

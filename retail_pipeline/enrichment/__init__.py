"""Reference-data enrichment: exchange rates (ECB) and the country dimension, as pure polars functions."""

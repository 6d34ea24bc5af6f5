"""Silver assets: typed, validated, deduplicated, enriched transactions and the reference dimensions."""

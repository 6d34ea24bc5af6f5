"""Pure logic: contracts, parsing, reading landing files, transforms, enrichment, planning. No dagster, no IO."""

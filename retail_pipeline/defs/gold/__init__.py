"""Gold assets: KPI marts, the star schema and the data-quality scorecard."""

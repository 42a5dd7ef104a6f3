"""The pure core: graph, manifests, diff, plan, calendar. No Dagster and no SDK imports."""

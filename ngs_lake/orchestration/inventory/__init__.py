"""The inventory catalogue in Dagster: its asset, checks, job and schedule."""

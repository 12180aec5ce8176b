"""The capacity report in Dagster: its asset, job and schedule."""

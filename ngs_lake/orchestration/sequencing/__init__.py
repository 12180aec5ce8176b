"""Sequencing runs in Dagster: the gateway-events sensor, lifecycle jobs and per-run assets."""

"""Capacity planning: the sizing rule, observed rates and the report. No Dagster."""

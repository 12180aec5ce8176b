"""Dagster only: resources, and one folder per domain with its assets, checks, sensors, jobs
and schedules. The domain logic lives in the plain-Python packages these call.
"""

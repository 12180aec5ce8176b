"""The run core: the typed run and its events (pure), and the ledger, ingest, lifecycle,
verification, announcements and DLQ that act on them through boto3. No Dagster.
"""

"""S3 Inventory: the report reader, the catalogue, its audits and queries. No Dagster."""

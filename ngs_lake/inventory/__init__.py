"""S3 Inventory: the local report producer, the report reader and the catalogue."""

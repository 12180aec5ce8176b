"""What operators read: lake status, run views and DLQ tools. boto3, no Dagster."""

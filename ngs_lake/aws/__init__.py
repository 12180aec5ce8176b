"""boto3 clients by endpoint and target, and the Storage Gateway client (ARCHITECTURE §4)."""

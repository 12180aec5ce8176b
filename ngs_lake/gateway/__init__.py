"""The software file gateway: a separate process that serves the Storage Gateway API on loopback.

It stands in for an S3 File Gateway appliance, so provisioning and the pipeline use one boto3
`storagegateway` code path for AWS and for the local lake (ARCHITECTURE §4).
"""

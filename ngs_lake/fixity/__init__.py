"""Fixity beyond verification: the run manifest's checksum columns, the at-rest audit, its
evidence in an Object Lock location, and S3 Batch Operations compute-checksum jobs.

It sits beside `runs/` and may use it (ARCHITECTURE §8); the run core's own fixity reads
(checksums at verification, the instrument's hashes) are `runs/fixity_*.py`.
"""

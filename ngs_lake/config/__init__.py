"""The lake document: its model and validation, the names it gives every resource, its units.

Pure: no AWS, no Dagster. Everything else reads the lake through these.
"""

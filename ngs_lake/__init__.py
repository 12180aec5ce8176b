"""ngs_lake: a genomics sequencing data lake on S3, Storage Gateway and Dagster."""

__version__ = "0.1.0"

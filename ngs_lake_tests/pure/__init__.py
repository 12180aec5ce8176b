"""Fast unit tests of the pure modules: no moto, no processes, no file system beyond test data.

`pytest ngs_lake_tests/pure` runs them together; `make mutation` runs mutmut against them.
"""

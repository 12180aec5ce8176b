"""`python -m ngs_lake.cli`: the same command as `ngs-lake`."""

from ngs_lake.cli import main

main(prog_name="ngs-lake")

"""One dynamic partition per run; the key is the run key, `<sequencer id>/<run folder>`."""

from dagster import DynamicPartitionsDefinition

sequencing_runs = DynamicPartitionsDefinition(name="sequencing_runs")

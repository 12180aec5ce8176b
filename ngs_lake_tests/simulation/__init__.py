"""The deterministic simulation of the run core (issue #30): the real `run_tick`, alert and
lifecycle code under a virtual clock, against moto's DynamoDB and S3 in-process and our own
fakes of SQS, SNS and the Storage Gateway API, driven by Hypothesis's stateful testing.

README, Development: "The run-core simulation" says how to run it, soak it and extend it.
"""

"""Alerts for the lake's operators: conditions judged from the ledger, the queues, the gateways
and the inventory audits (`conditions`, `sources`), one alert per (condition, subject) and a
"resolved" message when it clears (`dispatch`, `state`), on the operations SNS topic
(`messages`)."""

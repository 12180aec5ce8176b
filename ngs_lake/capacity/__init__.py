"""Capacity planning: the sizing rule, observed rates, gateway backlog and the report."""

"""Operator tooling: inspect, back up and replay the event log; rebuild projections; audit every action."""

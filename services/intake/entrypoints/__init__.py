"""Intake's entry points: the HTTP routers, the Kafka consumer, the CLI and the AsyncAPI document."""

"""Routing's entry points: the HTTP API, the Kafka consumer, the command line, the AsyncAPI document."""

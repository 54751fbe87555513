"""Tracking's entry points: HTTP API, Kafka consumer, CLI and the projection published for rebuilds."""

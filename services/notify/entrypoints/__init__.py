"""Notify's entry points: the HTTP app and its routers, the Kafka consumer, the CLI, AsyncAPI."""

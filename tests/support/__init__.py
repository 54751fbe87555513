"""Test helpers: the real local stack, independent Kafka readers, and service processes."""

"""The only code of the operator tools that touches Kafka and MongoDB."""

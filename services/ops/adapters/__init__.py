"""The only code of the operator tools that touches Kafka, MongoDB, files and installed entry points."""

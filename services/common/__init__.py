"""The runtime every service shares: settings, logging, Kafka delivery rules, MongoDB, HTTP plumbing.

It holds no business logic; services never import each other, only contracts/ and this package.
"""

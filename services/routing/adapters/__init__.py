"""Routing's adapters: the rule files, the MongoDB store, the clock."""

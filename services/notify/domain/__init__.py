"""Notify's pure domain: templates, rendering, segment counting, the ledger's state machine and policies."""

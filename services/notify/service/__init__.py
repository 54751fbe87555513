"""Notify's use cases: record (case events -> ledger records), send, reconcile, receipts, opt-out."""

"""Notify's adapters: the MongoDB stores, the SMS providers and the rate limiter."""

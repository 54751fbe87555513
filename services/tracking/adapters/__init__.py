"""Tracking's adapters: MongoDB stores, data files and the in-process rate limiter."""

"""Tracking's adapters: each port (cases, calls, claims, rate limiter) with its real implementation and fake."""

"""Routing: decides which of the fourteen agencies answers a case, explains why, and keeps the duty roster."""

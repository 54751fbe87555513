"""Routing's use cases: route a registered case, re-route a declined one, triage, classify, keep the roster."""

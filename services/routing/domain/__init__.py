"""Routing's pure domain: the classifier, the routing decisions, re-routing and the duty roster."""

"""Routing's adapters: MongoDB stores (cases, roster and its slot claims), rule files, labelled sets."""

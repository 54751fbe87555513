"""SAMAD-111 services: intake, routing, tracking and notify, plus the runtime they share (common)."""

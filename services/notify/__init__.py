"""Notify: Persian SMS to citizens about their cases, sent once and only once."""

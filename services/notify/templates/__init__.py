"""The SMS template data file (messages.yaml) lives in this package."""

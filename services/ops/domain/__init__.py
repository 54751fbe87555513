"""Pure rules of the operator tools: time and offset specs, dump records, plans, dead letters, diffs, rebuilds."""

"""Audit trail: typed events, append-only writer, tolerant reader. Imports nothing from `engine`."""

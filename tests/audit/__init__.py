"""Tests for the audit package (events, writer, reader, validator)."""

"""Rebalance pipeline: target → diff → plan → risk → execute → reconcile, and crash recovery from the audit log."""

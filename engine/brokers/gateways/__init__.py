"""Loopback-only servers that present the simulated venue as a real venue's wire API (tests and demos).

Each gateway uses only the standard library and refuses to bind anywhere but 127.0.0.1.
"""

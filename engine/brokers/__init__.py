"""Brokers: the protocol and value types (`base`), and the adapters behind it.

`sim` (default; needs nothing installed) is a persistent simulated venue on engine.lob books with SQLite state
under `.nanobook/`. The rebalance pipeline only ever sees `engine.brokers.base`; the CLI picks the adapter.
"""

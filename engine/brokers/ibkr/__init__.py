"""Interactive Brokers: `mapping` (pure: ib_async objects ↔ our value types, error-code table) and `adapter` (I/O).

Only this package imports `ib_async`; import `engine.brokers.ibkr.adapter` lazily (ib_async is an extra).
"""

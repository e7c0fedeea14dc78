"""Binance spot: `filters` (exchangeInfo → instrument rules, sizing) and `adapter` (the Broker over python-binance).

Only this package imports `binance`; import `engine.brokers.binance.adapter` lazily (python-binance is an extra).
"""

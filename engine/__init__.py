"""nanobook engine: order book, portfolio, risk, brokers and rebalancing. Never imports typer, rich or click."""

"""nanobook command-line interface (Typer). Renders engine results; the only layer that prints."""

__version__ = "0.1.0"

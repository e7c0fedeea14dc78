"""Configuration models and loaders (config.toml, target.json). Imports nothing from `engine`."""

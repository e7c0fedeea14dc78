"""One module per command; each is thin and imports the engine lazily."""

"""Rendering: rich consoles for people, the versioned JSON envelope for machines."""

"""`python -m nanobook_cli` entry point."""

from nanobook_cli.app import main

main()

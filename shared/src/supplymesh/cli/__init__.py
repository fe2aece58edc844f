"""The ``supplymesh`` command line: init, up, demo."""

from supplymesh.cli.app import app, main

__all__ = ["app", "main"]

"""The ``mongozarr`` command line: every command and every renderer lives in this package."""

from mongozarr.cli.app import app, main

__all__ = ["app", "main"]

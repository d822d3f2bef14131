"""The `natjax` command line (`main`) and its config files."""

from natjax.cli.main import main

__all__ = ["main"]

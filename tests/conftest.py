"""Shared by every test directory: this directory is on `sys.path` (pytest puts a conftest's
directory there), so tests import the helpers beside it (numeric_checks.py, toy_extension.py)."""

"""The repository's search configs as tests load them (configs/ is not a package)."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_search_config(**overrides):
  """configs/test.py's config with `overrides` ({field: value}) applied."""
  spec = importlib.util.spec_from_file_location("natjax_test_config",
                                                os.path.join(REPO, "configs", "test.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  for field, value in overrides.items():
    config[field] = value
  return config

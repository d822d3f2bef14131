"""The NAT search: pure w/theta steps (`steps`), the host loop (`loop.run`), derivation (`derive`)
and the batch transform (`transform`). `natjax.search.run(config, workdir)` runs a search."""

from natjax.search.loop import (CONFIG_FILE, DERIVED_FILE, SUMMARY_FILE, SearchError, finish, run,
                                validate_config)

__all__ = ["CONFIG_FILE", "DERIVED_FILE", "SUMMARY_FILE", "SearchError", "finish", "run",
           "validate_config"]

"""The NAT search: pure w/theta steps (`steps`), the host loop (`loop.run`), derivation and the
held-out check (`derive`) and the batch transform (`transform`). `natjax.search.run(config,
workdir)` runs a search; `natjax.search.restore(workdir)` rebuilds a finished one for analyses."""

from natjax.search.loop import (CONFIG_FILE, DERIVED_FILE, SUMMARY_FILE, Restored, SearchError,
                                finish, restore, run, validate_config)

__all__ = ["CONFIG_FILE", "DERIVED_FILE", "SUMMARY_FILE", "Restored", "SearchError", "finish",
           "restore", "run", "validate_config"]

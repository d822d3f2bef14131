"""Examples that use natjax from outside the package (`examples.fork`: a research fork)."""

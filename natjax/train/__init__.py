"""Training infrastructure and retraining: device meshes and sharded steps, state checkpoints, the
host loop shared by the search and retraining (sync, finiteness check, checkpoint cadence,
preemption), metric writing, and `retrain.run`."""

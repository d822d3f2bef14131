"""Training infrastructure and retraining: device meshes and sharded steps, state checkpoints and
preemption, metric writing, and `retrain.run`."""

"""Continual learning: online training on a stream whose labels are permuted every few
hundred steps, where loss of plasticity and forgetting show in the accuracy per task."""

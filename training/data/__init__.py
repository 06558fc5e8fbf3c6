"""Training data: pair sources, the on-disk feature cache, feature sets and the PyTorch dataset."""

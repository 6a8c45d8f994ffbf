"""Models: the bundle, sequence-disjoint splits, training, evaluation and the MLflow registry."""

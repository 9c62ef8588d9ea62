"""Studies built on experiments: the benchmark and the decision framework."""

"""Training and runs: data, input pipelines, the run directory, strategies, the loop,
evaluation and figures."""

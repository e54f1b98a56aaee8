"""The static compiler: graph, passes, lints, memory estimates and safe fixes (no TensorFlow)."""

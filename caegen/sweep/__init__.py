"""Sweeps and comparisons: spaces of spec variants, their trial store, samplers, and `compare`."""

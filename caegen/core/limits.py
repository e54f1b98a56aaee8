"""Bounds of the values a spec or the command line may give (shared without imports)."""

MAX_SEED = 2**32 - 1
"""Seeds are 32-bit, as NumPy's and TensorFlow's generators take them."""
MAX_BATCH = 2**20
MAX_EPOCHS = 1_000_000
MAX_DRAWS = 4096
"""Latent codes `caegen sample` decodes in one run: draws (`--n`) or given (`--latent`)."""
MAX_INT = 2**31 - 1
"""The largest integer a spec may give (a size, a count, a stride): TensorFlow's int32
arguments. It keeps every static computation on a spec's numbers finite and fast."""
MAX_SWEEP_POINTS = 1_000_000
"""Points a sweep's grid may hold (counted before any is built or checked)."""
MAX_SWEEP_BLOCKS = 100
"""Copies a sweep may make of a repeated slice (`encoder[0:2]*=N`)."""

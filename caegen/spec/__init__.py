"""The spec language: schema, layer types, optimizers, the YAML loader and positions, templates."""

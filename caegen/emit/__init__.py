"""Keras emission: a checked graph turned into Keras models."""

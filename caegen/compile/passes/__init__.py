"""Compiler passes over the graph: wiring, liveness, shapes, reconstruction, suppression."""

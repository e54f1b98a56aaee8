"""Shared by every stage: diagnostics and errors, atomic files, value bounds."""

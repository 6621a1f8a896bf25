"""Drift: did the inputs or the outputs of a model move against its reference window."""

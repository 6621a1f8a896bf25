"""Estimation: each day's model quality estimated from its predictions, before labels arrive."""

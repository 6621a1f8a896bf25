"""Performance: labels as they arrive, and each prediction day's model quality."""

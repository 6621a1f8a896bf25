"""Alerting: sensors that turn failed checks, failed runs and late logs into alert messages."""

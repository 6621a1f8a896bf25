"""Monitoring of deployed ML models: logs in storage become daily checks, metrics and reports."""

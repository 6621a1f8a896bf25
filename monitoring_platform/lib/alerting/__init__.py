"""Alerting without Dagster: findings, routing, the outbox, message payloads and senders."""

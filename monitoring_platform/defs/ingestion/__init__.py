"""Ingestion: log objects in storage become accepted rows and a quarantine in the lake."""

"""Metrics: business events, the warehouse tables, the dbt marts and the business report."""

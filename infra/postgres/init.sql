-- The metric store and dbt's warehouse live next to the Dagster instance, each in its own database.
CREATE DATABASE metrics;
CREATE DATABASE warehouse;

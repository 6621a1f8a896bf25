-- The metric store lives next to the Dagster instance, in its own database.
CREATE DATABASE metrics;

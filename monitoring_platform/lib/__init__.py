"""Pure logic with no Dagster import: parsing, contracts, statistics, rendering, storage."""

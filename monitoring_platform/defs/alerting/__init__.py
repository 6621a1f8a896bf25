"""Alert sensors: failed checks and runs, late logs, and a watchdog over the alerting."""

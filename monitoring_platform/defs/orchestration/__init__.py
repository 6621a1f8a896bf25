"""Orchestration: the jobs, schedules and sensors that run each model's daily assets."""

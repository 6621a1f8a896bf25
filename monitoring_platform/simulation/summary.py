"""What the traffic generator wrote, per model and day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class DaySummary:
    """What was written for one model and day (labels and events by the day they landed on)."""

    model: str
    date: dt.date
    log_records: int = 0
    malformed_lines: int = 0
    duplicate_records: int = 0
    labels: int = 0
    events: int = 0
    log_keys: list[str] = field(default_factory=list)
    label_keys: list[str] = field(default_factory=list)
    event_keys: list[str] = field(default_factory=list)


@dataclass
class GenerationSummary:
    """Counts and object keys per model and day, and the generation speed."""

    days: list[DaySummary]
    seconds: float

    @property
    def log_records(self) -> int:
        """Log lines written, malformed lines and duplicates included."""
        return sum(d.log_records for d in self.days)

    @property
    def records_per_second(self) -> float:
        """Log lines written per second of wall time."""
        return self.log_records / self.seconds if self.seconds > 0 else 0.0

    def day(self, model: str, date: dt.date) -> DaySummary:
        """The summary of one model and day."""
        return next(d for d in self.days if d.model == model and d.date == date)

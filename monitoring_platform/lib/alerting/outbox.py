"""Alert state and the outbox, in the metric store's database (SQLAlchemy; SQLite or PostgreSQL).

* ``alert_states``: per alert key and route, whether it is failing, the newest finding seen and
  when it was last sent. A finding changes the state only when it is newer (``event_id``) than
  the one already applied, so reading the same events again (after a crash, before the sensor's
  cursor moved) changes nothing and queues nothing.
* ``alert_outbox``: messages to send, one per route and group (the failures of one run), written
  in the same transaction as the state change. Delivery claims a message with a lease, sends it
  and marks it delivered; a failure schedules a retry with exponential backoff. Per route,
  messages go out in the order they were queued (a resolve never overtakes its trigger).
* ``alert_deliveries``: every attempt, with the receiver's answer or the error.
* ``alert_heartbeats``: when each alerting sensor last ticked, for the watchdog.

A process killed after the outbox write and before delivery loses nothing: the message is
pending and the next tick sends it. A process killed while a request is in flight leaves a claimed
message whose lease expires; it is sent again, under the same message id (the webhook
``X-Monitoring-Delivery`` header, the email ``Message-ID``, PagerDuty's ``dedup_key``), so
receivers that de-duplicate see it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from monitoring_platform.lib.alerting.findings import Finding, severity_rank
from monitoring_platform.lib.alerting.payloads import Item
from monitoring_platform.lib.database import open_engine
from monitoring_platform.lib.redaction import redact_url_credentials

metadata = sa.MetaData()

alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("alert_key", sa.String(512), primary_key=True),
    sa.Column("route", sa.String(64), primary_key=True),
    sa.Column("failing", sa.Boolean, nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("finding", sa.Text, nullable=False),
    sa.Column("opened_at", sa.Float, nullable=True),
    sa.Column("last_sent_at", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("claimed_until", sa.Float, nullable=True),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.UniqueConstraint("route", "message_id", name="uq_alert_outbox_message"),
    sa.Index("ix_alert_outbox_route_status", "route", "status", "id"),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.Integer, nullable=False),
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("attempted_at", sa.Float, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

alert_heartbeats = sa.Table(
    "alert_heartbeats",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def _ts(now: dt.datetime) -> float:
    return now.timestamp()


@dataclass
class DeliveryReport:
    """What one delivery pass sent, failed to send and gave up on."""

    delivered: list[tuple[str, str]] = field(default_factory=list)  # (route, message id)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (route, error)
    gave_up: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.delivered)} delivered"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed (will retry)")
        if self.gave_up:
            parts.append(f"{len(self.gave_up)} given up")
        if self.waiting:
            parts.append(f"{self.waiting} waiting")
        return ", ".join(parts)


@dataclass(frozen=True)
class Backoff:
    """The wait before a retry: doubling from a base, capped, until giving up."""

    base_seconds: float = 30
    max_seconds: float = 900
    give_up_seconds: float = 72 * 3600

    def delay(self, attempts: int) -> float:
        return min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))


class AlertStore:
    """Alert state, outbox and delivery attempts on one SQLAlchemy engine."""

    def __init__(self, url: str):
        self.url = url
        self.engine = open_engine(url, metadata)

    # -- findings to outbox ----------------------------------------------------------------

    def record(
        self,
        findings: Iterable[Finding],
        routes_for: Callable[[Finding], Sequence[str]],
        route_kinds: Mapping[str, str],
        now: dt.datetime,
        reminder: dt.timedelta | None = None,
    ) -> list[int]:
        """Apply findings to the alert state and queue the messages they call for, atomically.

        Returns the ids of the queued outbox messages.
        """
        findings = sorted(findings, key=lambda f: f.event_id)
        with self.engine.begin() as conn:
            items: dict[tuple[str, str], list[Item]] = {}
            for finding in findings:
                states = {
                    row.route: row
                    for row in conn.execute(
                        sa.select(alert_states).where(alert_states.c.alert_key == finding.key)
                    )
                }
                wanted = set(routes_for(finding)) if finding.failing else set()
                for route in sorted(wanted | {r for r, s in states.items() if s.failing}):
                    action = self._apply(conn, finding, route, states.get(route), now, reminder)
                    if action is None:
                        continue
                    if route_kinds.get(route) == "pagerduty":
                        group = f"{finding.key}|{action}|{finding.event_id}"
                    else:
                        group = finding.run_id or f"{finding.key}|{finding.event_id}"
                    items.setdefault((route, group), []).append((action, finding))
            return self._queue(conn, items, now)

    def _apply(self, conn, finding, route, state, now, reminder) -> str | None:
        values = {
            "failing": finding.failing,
            "event_id": finding.event_id,
            "finding": json.dumps(finding.to_json(), ensure_ascii=False),
            "updated_at": _ts(now),
        }
        if state is None:
            if not finding.failing:
                return None
            conn.execute(
                alert_states.insert().values(
                    alert_key=finding.key,
                    route=route,
                    opened_at=_ts(now),
                    last_sent_at=_ts(now),
                    **values,
                )
            )
            return "trigger"
        if finding.event_id <= state.event_id:
            return None  # already applied, or older than what was applied
        where = (alert_states.c.alert_key == finding.key) & (alert_states.c.route == route)
        action = None
        if finding.failing and not state.failing:
            action = "trigger"
            values.update(opened_at=_ts(now), last_sent_at=_ts(now))
        elif not finding.failing and state.failing:
            action = "resolve"
            values.update(last_sent_at=_ts(now))
        elif (
            finding.failing
            and reminder is not None
            and state.last_sent_at is not None
            and _ts(now) - state.last_sent_at >= reminder.total_seconds()
        ):
            action = "remind"
            values.update(last_sent_at=_ts(now))
        conn.execute(alert_states.update().where(where).values(**values))
        return action

    def remind(
        self, now: dt.datetime, reminder: dt.timedelta, route_kinds: Mapping[str, str]
    ) -> list[int]:
        """Queue a reminder for every alert still failing ``reminder`` after it was last sent."""
        cutoff = _ts(now) - reminder.total_seconds()
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(alert_states).where(
                    alert_states.c.failing.is_(True), alert_states.c.last_sent_at <= cutoff
                )
            ).all()
            items: dict[tuple[str, str], list[Item]] = {}
            for row in rows:
                finding = Finding.from_json(json.loads(row.finding))
                updated = conn.execute(
                    alert_states.update()
                    .where(
                        alert_states.c.alert_key == row.alert_key,
                        alert_states.c.route == row.route,
                        alert_states.c.last_sent_at == row.last_sent_at,
                    )
                    .values(last_sent_at=_ts(now))
                ).rowcount
                if updated:
                    group = f"remind|{row.last_sent_at}|{row.alert_key}"
                    if route_kinds.get(row.route) != "pagerduty":
                        group = f"remind|{now.isoformat()}"
                    items.setdefault((row.route, group), []).append(("remind", finding))
            return self._queue(conn, items, now)

    def _queue(self, conn, items: Mapping[tuple[str, str], list[Item]], now) -> list[int]:
        ids = []
        for (route, _group), group_items in items.items():
            group_items.sort(
                key=lambda it: (it[0] != "trigger", -severity_rank(it[1].severity), it[1].key)
            )
            encoded = json.dumps(
                [{"action": a, "finding": f.to_json()} for a, f in group_items],
                ensure_ascii=False,
                sort_keys=True,
            )
            message_id = hashlib.sha256(f"{route}\n{encoded}".encode()).hexdigest()[:32]
            result = conn.execute(
                alert_outbox.insert().values(
                    route=route,
                    message_id=message_id,
                    items=encoded,
                    status=PENDING,
                    attempts=0,
                    created_at=_ts(now),
                    next_attempt_at=_ts(now),
                )
            )
            ids.append(result.inserted_primary_key[0])
        return ids

    # -- delivery --------------------------------------------------------------------------

    def deliver(
        self,
        send: Callable[[str, str, list[Item]], str],
        now: Callable[[], dt.datetime],
        backoff: Backoff = Backoff(),
        lease: dt.timedelta = dt.timedelta(minutes=5),
        known_routes: Iterable[str] | None = None,
        max_messages: int = 200,
        budget_seconds: float | None = None,
    ) -> DeliveryReport:
        """Send what is due, oldest first per route; a failing route does not hold up others.

        ``send(route, message_id, items)`` raises on failure and returns the receiver's answer.
        """
        report = DeliveryReport()
        deadline = time.monotonic() + budget_seconds if budget_seconds else None
        known = set(known_routes) if known_routes is not None else None
        blocked: set[str] = set()
        sent = 0
        while sent < max_messages:
            head = self._heads(now(), exclude=blocked)
            if not head:
                break
            for row in head:
                if sent >= max_messages or (deadline and time.monotonic() > deadline):
                    sent = max_messages  # the rest waits for the next tick
                    break
                stamp = now()
                if row.next_attempt_at > _ts(stamp) or (
                    row.claimed_until is not None and row.claimed_until > _ts(stamp)
                ):
                    report.waiting += 1
                    blocked.add(row.route)
                    continue
                if not self._claim(row, stamp, lease):
                    blocked.add(row.route)
                    continue
                sent += 1
                items = [
                    (it["action"], Finding.from_json(it["finding"])) for it in json.loads(row.items)
                ]
                try:
                    if known is not None and row.route not in known:
                        raise RouteGoneError(
                            f"route {row.route!r} is no longer in the configuration"
                        )
                    detail = send(row.route, row.message_id, items)
                except Exception as exc:
                    error = redact_url_credentials(str(exc) or type(exc).__name__)
                    gave_up = self._failed(
                        row, now(), error, backoff, isinstance(exc, RouteGoneError)
                    )
                    (report.gave_up if gave_up else report.failed).append((row.route, error))
                    blocked.add(row.route)
                else:
                    self._delivered(row, now(), detail)
                    report.delivered.append((row.route, row.message_id))
        return report

    def _heads(self, now: dt.datetime, exclude: set[str]):
        """The oldest undelivered message of each route."""
        open_ = alert_outbox.c.status == PENDING
        first = (
            sa.select(alert_outbox.c.route, sa.func.min(alert_outbox.c.id).label("id"))
            .where(open_)
            .group_by(alert_outbox.c.route)
            .subquery()
        )
        query = (
            sa.select(alert_outbox)
            .join(first, alert_outbox.c.id == first.c.id)
            .order_by(alert_outbox.c.id)
        )
        with self.engine.connect() as conn:
            return [row for row in conn.execute(query) if row.route not in exclude]

    def _claim(self, row, now: dt.datetime, lease: dt.timedelta) -> bool:
        stamp = _ts(now)
        claimed = alert_outbox.c.claimed_until
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    alert_outbox.update()
                    .where(
                        alert_outbox.c.id == row.id,
                        alert_outbox.c.status == PENDING,
                        alert_outbox.c.attempts == row.attempts,
                        sa.or_(claimed.is_(None), claimed <= stamp),
                    )
                    .values(claimed_until=stamp + lease.total_seconds())
                ).rowcount
            )

    def _delivered(self, row, now: dt.datetime, detail: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                alert_outbox.update()
                .where(alert_outbox.c.id == row.id)
                .values(
                    status=DELIVERED,
                    attempts=row.attempts + 1,
                    delivered_at=_ts(now),
                    claimed_until=None,
                    last_error=None,
                )
            )
            conn.execute(
                alert_deliveries.insert().values(
                    outbox_id=row.id, route=row.route, attempted_at=_ts(now), ok=True, detail=detail
                )
            )

    def _failed(self, row, now, error: str, backoff: Backoff, final: bool) -> bool:
        attempts = row.attempts + 1
        gave_up = final or _ts(now) - row.created_at >= backoff.give_up_seconds
        with self.engine.begin() as conn:
            conn.execute(
                alert_outbox.update()
                .where(alert_outbox.c.id == row.id)
                .values(
                    status=DEAD if gave_up else PENDING,
                    attempts=attempts,
                    next_attempt_at=_ts(now) + backoff.delay(attempts),
                    claimed_until=None,
                    last_error=error[:2000],
                )
            )
            conn.execute(
                alert_deliveries.insert().values(
                    outbox_id=row.id,
                    route=row.route,
                    attempted_at=_ts(now),
                    ok=False,
                    detail=error[:2000],
                )
            )
        return gave_up

    # -- heartbeats and inspection ---------------------------------------------------------

    def beat(self, name: str, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                alert_heartbeats.update().where(alert_heartbeats.c.name == name).values(at=_ts(now))
            ).rowcount
            if not updated:
                conn.execute(alert_heartbeats.insert().values(name=name, at=_ts(now)))

    def heartbeat(self, name: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            at = conn.execute(
                sa.select(alert_heartbeats.c.at).where(alert_heartbeats.c.name == name)
            ).scalar()
        return dt.datetime.fromtimestamp(at, dt.UTC) if at is not None else None

    def open_alerts(self, kind: str | None = None) -> list[Finding]:
        """The newest finding of every alert that is failing on some route."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(alert_states.c.alert_key, alert_states.c.finding)
                .where(alert_states.c.failing.is_(True))
                .order_by(alert_states.c.alert_key)
            ).all()
        out: dict[str, Finding] = {}
        for row in rows:
            finding = Finding.from_json(json.loads(row.finding))
            if kind is None or finding.kind == kind:
                out[row.alert_key] = finding
        return list(out.values())

    def messages(self, status: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(alert_outbox).order_by(alert_outbox.c.id)
        if status is not None:
            query = query.where(alert_outbox.c.status == status)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def attempts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(row._mapping)
                for row in conn.execute(sa.select(alert_deliveries).order_by(alert_deliveries.c.id))
            ]

    def dispose(self) -> None:
        self.engine.dispose()


class RouteGoneError(Exception):
    """The message's route was removed from the configuration."""

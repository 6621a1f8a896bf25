"""The alerting service: the configured routes bound to the alert store and a clock."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping

from monitoring_platform.config import Alerts
from monitoring_platform.lib.alerting import findings as alert_findings
from monitoring_platform.lib.alerting import senders
from monitoring_platform.lib.alerting.outbox import AlertStore, Backoff, DeliveryReport

_STORES: dict[str, AlertStore] = {}


def utc_now() -> dt.datetime:
    """The current time, in UTC."""
    return dt.datetime.now(dt.UTC)


class Alerting:
    """Findings in, messages out: routing, the outbox and delivery for one configuration."""

    def __init__(
        self,
        store: AlertStore,
        settings: Alerts,
        clock: Callable[[], dt.datetime] = utc_now,
        environ: Mapping[str, str] | None = None,
    ):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.environ = environ
        self.routes = {r.name: r for r in settings.routes}
        self.kinds = {r.name: r.kind for r in settings.routes}

    @classmethod
    def for_url(
        cls, url: str, settings: Alerts, clock: Callable[[], dt.datetime] = utc_now
    ) -> Alerting:
        """The service on the alert store at ``url`` (one engine per URL and process)."""
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = AlertStore(url)
        return cls(store, settings, clock)

    @property
    def reminder(self) -> dt.timedelta | None:
        hours = self.settings.reminder_hours
        return dt.timedelta(hours=hours) if hours else None

    def record(self, found: Iterable[alert_findings.Finding]) -> list[int]:
        return self.store.record(
            found,
            lambda f: alert_findings.routes_for(self.settings, f),
            self.kinds,
            self.clock(),
            reminder=self.reminder,
        )

    def remind(self) -> list[int]:
        if self.reminder is None:
            return []
        return self.store.remind(self.clock(), self.reminder, self.kinds)

    def send(self, route: str, message_id: str, items) -> str:
        return senders.send(
            self.routes[route],
            message_id,
            items,
            timeout=self.settings.request_timeout_seconds,
            environ=self.environ,
        )

    def deliver(self) -> DeliveryReport:
        s = self.settings
        return self.store.deliver(
            self.send,
            self.clock,
            backoff=Backoff(s.retry_base_seconds, s.retry_max_seconds, s.give_up_hours * 3600),
            lease=dt.timedelta(seconds=4 * s.request_timeout_seconds + 30),
            known_routes=self.routes,
            # A sensor tick must end well within Dagster's tick timeout; the rest waits.
            budget_seconds=max(20.0, 2 * s.request_timeout_seconds),
        )

    def beat(self, name: str) -> None:
        self.store.beat(name, self.clock())

    def watchdog(self, watched: str, watcher: str) -> alert_findings.Finding:
        """Is ``watched`` ticking? The watcher's first tick starts the clock when it never did."""
        now = self.clock()
        since_name = f"{watcher}:since"
        since = self.store.heartbeat(since_name)
        if since is None:
            self.store.beat(since_name, now)
            since = now
        return alert_findings.watchdog_finding(
            watched, self.store.heartbeat(watched), since, now, self.settings.watchdog_minutes
        )

    def send_test(self, route: str) -> str:
        """Send a test message through one route, now, bypassing the outbox."""
        target = self.settings.route(route)
        now = self.clock()
        finding = alert_findings.Finding(
            kind="test",
            model=None,
            subject="alerts test",
            day=None,
            failing=True,
            severity="WARN",
            description=(
                f"test message from monitoring-platform through route {route!r} "
                f"({target.kind}) at {now:%Y-%m-%d %H:%M:%S} UTC on {os.uname().nodename}"
            ),
            event_id=alert_findings.event_id_at(now),
            run_url=self.settings.dagster_base_url,
        )
        items = [("trigger", finding)]
        if target.kind == "pagerduty":
            items.append(("resolve", finding))  # do not leave a test incident open
        return senders.send(
            target,
            f"test-{alert_findings.event_id_at(now)}",
            items,
            timeout=self.settings.request_timeout_seconds,
            environ=self.environ,
        )

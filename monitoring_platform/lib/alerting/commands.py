"""``monitoring-platform alerts ...``: send a test message, show the outbox."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TextIO

from monitoring_platform.lib.alerting.outbox import DEAD, PENDING
from monitoring_platform.lib.alerting.senders import DeliveryError
from monitoring_platform.lib.alerting.service import Alerting
from monitoring_platform.lib.redaction import redactor_for

CHECK_SENSOR_NAME = "check_alert_sensor"


def alerts_test(config, route: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Send a test message through ``route``; 0 when the receiver took it."""
    out, err = out or sys.stdout, err or sys.stderr
    alerts = config.alerts
    try:
        alerts.route(route)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=err)
        return 2
    service = Alerting.for_url(config.metric_store_url(), alerts)
    try:
        answer = service.send_test(route)
    except DeliveryError as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(f"route {route!r}: test message sent ({answer})", file=out)
    return 0


def alerts_status(config, out: TextIO | None = None) -> int:
    """Print open alerts and undelivered messages; 1 when something is stuck or given up."""
    out = out or sys.stdout
    service = Alerting.for_url(config.metric_store_url(), config.alerts)
    store = service.store
    opened = store.open_alerts()
    print(f"{len(opened)} open alerts", file=out)
    for finding in opened:
        print(f"  {finding.key}  {finding.severity}", file=out)
    stuck = store.messages(PENDING) + store.messages(DEAD)
    print(f"{len(stuck)} undelivered messages", file=out)
    # Errors are stored redacted; older rows, or a secret that changed since, are covered here.
    redact = redactor_for(config.alerts)
    for row in stuck:
        created = dt.datetime.fromtimestamp(row["created_at"], dt.UTC)
        error = redact(row["last_error"] or "")
        print(
            f"  #{row['id']} {row['route']} {row['status']} since {created:%Y-%m-%d %H:%M} UTC, "
            f"{row['attempts']} attempts" + (f": {error}" if error else ""),
            file=out,
        )
    # The watchdog runs in the same daemon; this line lets something outside it (cron) notice.
    beat = store.heartbeat(CHECK_SENSOR_NAME)
    silent = beat is None or service.clock() - beat > dt.timedelta(
        minutes=config.alerts.watchdog_minutes
    )
    when = f"{beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "never"
    print(f"{CHECK_SENSOR_NAME} last ticked: {when}" + (" (silent)" if silent else ""), file=out)
    return 1 if stuck or silent else 0

"""The ``monitoring-platform`` command."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from monitoring_platform.config import CONFIG_ENV_VAR, ConfigError, MonitoringConfig, load_config
from monitoring_platform.lib.storage import StorageError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _yesterday() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def _date_range(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    end = args.end or _yesterday()
    start = args.start or end - dt.timedelta(days=args.days - 1)
    if start > end:
        raise SystemExit(f"error: --start {start} is after --end {end}")
    return start, end


def _s3_client_factory(config: MonitoringConfig, endpoint_url: str | None):
    from monitoring_platform.lib.storage import s3_client

    s3 = config.storage.s3
    return lambda: s3_client(**s3.client_arguments(endpoint_url))


def cmd_generate(args: argparse.Namespace) -> int:
    """Write synthetic logs, labels and events for a range of days."""
    from monitoring_platform.simulation import generate_traffic

    config = load_config(args.config)
    start, end = _date_range(args)
    summary = generate_traffic(
        config,
        start,
        end,
        seed=args.seed,
        models=args.model or None,
        raw_root=args.out,
        client_factory=_s3_client_factory(config, args.endpoint_url),
        progress=None if args.quiet else lambda msg: print(msg, flush=True),
    )
    print(
        f"wrote {summary.log_records:,} log records for {start}..{end} "
        f"({summary.records_per_second:,.0f} records/s)"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo: traffic, one evaluation per day, the reports site."""
    from monitoring_platform.demo import run_demo

    config = load_config(args.config)
    start, end = _date_range(args)
    # Also what it starts stops on SIGTERM: Dagster stops the `tail` processes that mirror a
    # run's captured output with it, and waited a minute per run for them where it was ignored.
    stop_on_sigterm()
    return run_demo(config, start, end, seed=args.seed, generate=not args.no_generate)


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List the quarantined records of one model and day."""
    from monitoring_platform.lib import lake
    from monitoring_platform.lib.storage import open_store

    config = load_config(args.config)
    model = config.model(args.model)
    store = open_store(
        config.resolve_location(config.storage.lake), _s3_client_factory(config, None)
    )
    table = lake.read_partition(store, lake.QUARANTINE, model.name, args.date)
    if table is None:
        print(f"{model.name} {args.date}: not ingested yet (no quarantine partition)")
        return 1
    rows = table.to_pylist()
    print(f"{model.name} {args.date}: {len(rows)} quarantined records")
    for row in rows[: args.limit]:
        raw = row["raw"] if len(row["raw"]) <= 120 else row["raw"][:117] + "..."
        print(f"  {row['object_key']}:{row['line_no']}  {row['reason']}\n      {raw!r}")
    if len(rows) > args.limit:
        print(f"  ... {len(rows) - args.limit} more (use --limit)")
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM stops this process as Ctrl+C does.

    Also when it was started with the signal ignored or blocked: both are inherited from
    whatever started it.
    """
    import signal

    def interrupt(_signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def cmd_serve_reports(args: argparse.Namespace) -> int:
    """Serve the local reports folder over HTTP."""
    from monitoring_platform.lib.reports_site import INDEX_KEY, reports_server

    config = load_config(args.config)
    root = config.resolve_location(config.storage.reports)
    if root.startswith("s3://"):
        print(f"error: the reports live in {root}; serve that bucket as a static website")
        return 2
    try:
        server = reports_server(root, port=args.port)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    if not Path(root, INDEX_KEY).exists():
        print("note: no index.html yet; materialize reports_index (or run the demo)")
    try:
        # Before saying it serves: a SIGTERM sent on reading that line must stop it.
        stop_on_sigterm()
        print(f"Serving {root} on http://{host}:{port}/  (Ctrl+C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Write (and, with --send, e-mail) the weekly digest of one ISO week."""
    from monitoring_platform.lib.alerting.outbox import AlertStore
    from monitoring_platform.lib.digest import gather_digest, publish_digest, send_digest
    from monitoring_platform.lib.metric_store import MetricStore
    from monitoring_platform.lib.storage import open_store

    config = load_config(args.config)
    reports = open_store(
        config.resolve_location(config.storage.reports), _s3_client_factory(config, None)
    )
    url = config.metric_store_url()
    try:
        digest = gather_digest(config, args.week, MetricStore(url), AlertStore(url), reports)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    key = publish_digest(reports, digest)
    print(f"Weekly digest {digest.week} written to {reports.uri(key)}")
    if args.send:
        base = config.storage.reports_base_url or reports.uri("")
        try:
            print(f"E-mailed: {send_digest(config, digest, base)}")
        except Exception as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """List, test or retry alerts."""
    from monitoring_platform.lib.alerting import commands

    config = load_config(args.config)
    if args.alerts_command == "test":
        return commands.alerts_test(config, args.route)
    return commands.alerts_status(config)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="monitoring-platform",
        description="Monitor machine-learning models in web services.",
    )
    parser.add_argument(
        "--config",
        default=None,
        help=f"path of monitoring.yaml (default: ${CONFIG_ENV_VAR} or ./monitoring.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add_range(p: argparse.ArgumentParser, days: int) -> None:
        p.add_argument("--end", type=_date, help="last day, YYYY-MM-DD (default: yesterday, UTC)")
        p.add_argument("--start", type=_date, help="first day (default: END minus DAYS plus one)")
        p.add_argument("--days", type=int, default=days, help=f"number of days (default {days})")
        p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")

    gen = sub.add_parser("generate", help="write realistic traffic for the configured models")
    add_range(gen, 14)
    gen.add_argument("--out", help="folder or s3://bucket/prefix (default: storage.raw)")
    gen.add_argument("--endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000")
    gen.add_argument("--model", action="append", help="only this model (repeatable)")
    gen.add_argument("--quiet", action="store_true")
    gen.set_defaults(func=cmd_generate)

    demo = sub.add_parser(
        "demo", help="generate traffic and evaluate every model and day through Dagster"
    )
    add_range(demo, 14)
    demo.add_argument("--no-generate", action="store_true", help="use the traffic already there")
    demo.set_defaults(func=cmd_demo)

    quarantine = sub.add_parser("quarantine", help="show a day's quarantined records")
    quarantine.add_argument("--model", required=True)
    quarantine.add_argument("--date", required=True, type=_date)
    quarantine.add_argument("--limit", type=int, default=20)
    quarantine.set_defaults(func=cmd_quarantine)

    serve = sub.add_parser("serve-reports", help="serve the reports site on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    serve.set_defaults(func=cmd_serve_reports)

    digest = sub.add_parser("digest", help="write (and e-mail) one week's stakeholder digest")
    digest.add_argument("--week", required=True, help="ISO week, e.g. 2026-W47")
    digest.add_argument("--send", action="store_true", help="e-mail it through digest.route")
    digest.set_defaults(func=cmd_digest)

    alerts = sub.add_parser("alerts", help="check alert routes and the alert outbox")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_test = alerts_sub.add_parser("test", help="send a test message through a route")
    alerts_test.add_argument("--route", required=True, help="route name from alerts.routes")
    alerts_test.set_defaults(func=cmd_alerts)
    alerts_sub.add_parser("status", help="open alerts and undelivered messages").set_defaults(
        func=cmd_alerts
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; return its exit status."""
    args = build_parser().parse_args(argv)
    if args.config:
        os.environ[CONFIG_ENV_VAR] = str(Path(args.config).resolve())
    try:
        return args.func(args)
    except (ConfigError, StorageError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

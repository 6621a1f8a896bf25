"""Local receivers for alert tests, on 127.0.0.1, speaking the documented request formats.

``HttpReceiver`` stands in for a Slack incoming webhook (``/slack``), a generic signed webhook
(``/webhook``) and the PagerDuty Events API v2 (``/pagerduty``). It validates each request the
way the real endpoint does (rejecting malformed bodies with 400, bad signatures with 401) and
keeps what it accepted. It can be stopped and started again on the same port, or made to hold a
request without answering. ``SmtpReceiver`` is an aiosmtpd server with STARTTLS (a self-signed
certificate made at test time) and a required login.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitoring_platform.lib.alerting.payloads import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from monitoring_platform_tests.conftest import free_port

PD_SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class Accepted:
    path: str
    body: dict
    headers: dict


@dataclass
class HttpReceiver:
    webhook_secret: str = "s3cr3t-for-tests"
    pagerduty_key: str = "pd-routing-key-for-tests"
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    requests_seen: int = 0
    port: int = 0
    hold_after: int | None = None  # hold (never answer) every request after this many accepted
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self._server = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests_seen += 1
                    hold = (
                        receiver.hold_after is not None
                        and len(receiver.accepted) >= receiver.hold_after
                    )
                if hold:
                    receiver.held.set()
                    receiver.release.wait(60)
                    return
                code, answer = receiver._judge(self.path, raw, dict(self.headers))
                body = (
                    json.dumps(answer).encode() if not isinstance(answer, str) else answer.encode()
                )
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _judge(self, path: str, raw: bytes, headers: dict) -> tuple[int, object]:
        try:
            body = json.loads(raw)
        except ValueError:
            return self._reject(path, 400, "invalid_payload")
        if path == "/slack":
            blocks = body.get("blocks")
            ok = (
                isinstance(body.get("text"), str)
                and isinstance(blocks, list)
                and 0 < len(blocks) <= 50
                and all(isinstance(b, dict) and b.get("type") for b in blocks)
            )
            if not ok:
                return self._reject(path, 400, "invalid_blocks")
            return self._accept(path, body, headers, 200, "ok")
        if path == "/webhook":
            stamp = headers.get(TIMESTAMP_HEADER, "")
            sig = headers.get(SIGNATURE_HEADER, "")
            if not headers.get(DELIVERY_HEADER) or not verify_signature(
                self.webhook_secret, stamp, raw, sig
            ):
                return self._reject(path, 401, "bad signature")
            return self._accept(path, body, headers, 200, {"ok": True})
        if path == "/pagerduty":
            action = body.get("event_action")
            problems = []
            if body.get("routing_key") != self.pagerduty_key:
                problems.append("routing_key")
            if action not in {"trigger", "acknowledge", "resolve"}:
                problems.append("event_action")
            if action != "trigger" and not body.get("dedup_key"):
                problems.append("dedup_key")
            if action == "trigger":
                payload = body.get("payload") or {}
                if not payload.get("summary") or not payload.get("source"):
                    problems.append("payload")
                if payload.get("severity") not in PD_SEVERITIES:
                    problems.append("payload.severity")
            if problems:
                return self._reject(path, 400, {"status": "invalid event", "errors": problems})
            return self._accept(
                path,
                body,
                headers,
                202,
                {
                    "status": "success",
                    "message": "Event processed",
                    "dedup_key": body.get("dedup_key"),
                },
            )
        return self._reject(path, 404, "no_service")

    def _accept(self, path, body, headers, code, answer):
        with self._lock:
            self.accepted.append(Accepted(path, body, headers))
        return code, answer

    def _reject(self, path, code, answer):
        with self._lock:
            self.rejected.append((path, code, json.dumps(answer)))
        return code, answer

    def bodies(self, path: str) -> list[dict]:
        return [a.body for a in self.accepted if a.path == path]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made now with ``cryptography``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SmtpReceiver:
    """aiosmtpd with STARTTLS required and a login required (after STARTTLS)."""

    def __init__(self, folder: Path, user: str = "alerts", password: str = "pw-for-tests"):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.cert, key = self_signed_cert(folder)
        self.messages: list = []
        self.logins: list[str] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email

                msg = email.message_from_bytes(envelope.original_content)
                receiver.messages.append((envelope.rcpt_tos, msg, session.authenticated))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            if ok:
                receiver.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
            ready_timeout=10,
        )

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

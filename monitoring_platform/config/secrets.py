"""Secrets and the configuration: the keys that would hold one, and URL credentials masked.

Secrets are never read from the file: it names environment variables instead (keys ending in
``_env``). A value echoed in an error may be a URL with credentials in it; those are masked.
"""

from __future__ import annotations

import re

MASK = "[redacted]"

# Keys that would hold a secret's value. The file must name an environment variable instead.
SECRET_KEYS = {
    "password",
    "secret",
    "secret_access_key",
    "access_key_id",
    "aws_secret_access_key",
    "aws_access_key_id",
    "session_token",
    "token",
    "api_key",
    "webhook_url",
    "routing_key",
    "integration_key",
    "hmac_secret",
}

# ``scheme://user:password@`` or ``scheme://token@`` at the start of a URL's authority.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"<>]*@")


def redact_url_credentials(text: str) -> str:
    """``text`` with the user information of every URL in it replaced by the mask."""
    return _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)

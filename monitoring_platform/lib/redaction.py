"""Keeping secrets out of every text the platform writes: logs, errors, tables, pages.

Secrets reach the platform only through environment variables named in the configuration (keys
ending in ``_env``). A :class:`Redactor` knows their values and removes them, and the forms they
take when a library repeats them: a URL without its scheme, its path, its percent-encoded form,
the user information of a DSN. Credentials written inside any URL (``scheme://user:pw@host``)
are removed whatever their origin.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from monitoring_platform.config.secrets import MASK, redact_url_credentials

# Forms shorter than this are too common to replace without mangling ordinary text.
_MIN_FORM = 6


def secret_forms(value: str) -> set[str]:
    """The texts that would reveal ``value``: itself and the parts a library may echo."""
    value = value.strip()
    if not value:
        return set()
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote(value)}
    scheme, sep, rest = value.partition("://")
    bare = rest if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme) else value
    forms.add(bare)
    # A URL with or without its scheme: the host's part is not secret, what follows it is.
    authority, slash, path = bare.partition("/")
    if slash and path:
        forms.add("/" + path)
        forms.add(path)
    query = bare.partition("?")[2]
    if query:
        forms.add(query)
    if "@" in authority:
        userinfo = authority.rsplit("@", 1)[0]
        forms.add(userinfo)
        forms.update(userinfo.split(":", 1))
    return {f for f in forms if len(f) >= _MIN_FORM}


class Redactor:
    """Removes known secret values (and their forms) and URL credentials from text."""

    def __init__(self, secrets: Iterable[str] = ()):
        forms: set[str] = set()
        for value in secrets:
            if value:
                forms |= secret_forms(value)
        # Longest first: a URL goes before its path, so the mask is not split.
        self._pattern = (
            re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
            if forms
            else None
        )

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return redact_url_credentials(text)


def env_names(settings: Any) -> list[str]:
    """The environment variables a configuration object names (fields ending in ``_env``)."""
    names: list[str] = []
    if isinstance(settings, list | tuple):
        for item in settings:
            names += env_names(item)
        return names
    fields = getattr(type(settings), "model_fields", None)
    if fields is None:
        return names
    for name in fields:
        value = getattr(settings, name, None)
        if name.endswith("_env") and isinstance(value, str):
            names.append(value)
        elif value is not None and not isinstance(value, str | int | float | bool):
            names += env_names(value)
    return names


def redactor_for(settings: Any, environ: Mapping[str, str] | None = None) -> Redactor:
    """A redactor of every secret that ``settings`` (a configuration object) names."""
    environ = os.environ if environ is None else environ
    return Redactor(environ.get(name, "") for name in env_names(settings))

"""Reading ``monitoring.yaml``: validation, refusal of inline secrets and readable errors."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitoring_platform.config.common import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    ConfigError,
)
from monitoring_platform.config.models import PinnedReference, Task, TrailingReference
from monitoring_platform.config.platform import MonitoringConfig
from monitoring_platform.config.secrets import SECRET_KEYS, redact_url_credentials


def default_config_path() -> Path:
    """The file named by ``MONITORING_CONFIG``, else ``monitoring.yaml``."""
    return Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE))


def load_config(path: str | os.PathLike[str] | None = None) -> MonitoringConfig:
    """Read and validate a configuration file; raise :class:`ConfigError` on any mistake."""
    file = Path(path) if path is not None else default_config_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: configuration file not found (set {CONFIG_ENV_VAR} to its path)"
        ) from None
    return parse_config(text, source=file)


def parse_config(text: str, source: Path | str = "<string>") -> MonitoringConfig:
    """Validate a configuration text; raise :class:`ConfigError` on any mistake."""
    source_path = Path(source)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with a `models` list at the top level")
    secret_errors = list(_inline_secrets(raw, ()))
    if secret_errors:
        raise ConfigError(f"{source}: " + f"\n{source}: ".join(secret_errors))
    base_dir = source_path.parent.resolve() if source != "<string>" else Path.cwd()
    try:
        config = MonitoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, raw, str(source))) from None
    config = config.model_copy(update={"base_dir": base_dir, "source_file": source_path})
    return _with_partitions_start(config)


def _with_partitions_start(config: MonitoringConfig) -> MonitoringConfig:
    """``partitions.start_date`` from ``partitions.start_date_file`` when that file exists."""
    path = partitions_start_path(config)
    if path is None:
        return config
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return config
    try:
        start = dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{path}: partitions.start_date_file holds {text[:40]!r}, expected an ISO date "
            "(YYYY-MM-DD)"
        ) from None
    partitions = config.partitions.model_copy(update={"start_date": start})
    return config.model_copy(update={"partitions": partitions})


def partitions_start_path(config: MonitoringConfig) -> Path | None:
    """Where ``partitions.start_date_file`` points, absolute; None when not configured."""
    name = config.partitions.start_date_file
    if not name:
        return None
    return Path(name) if Path(name).is_absolute() else config.base_dir / name


def _inline_secrets(node: Any, path: tuple[Any, ...]):
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if isinstance(key, str) and key.lower() in SECRET_KEYS and value is not None:
                yield (
                    f"{_dotted(here)}: secrets are never read from the configuration file; "
                    f"put the value in an environment variable and write "
                    f"`{key}_env: NAME_OF_THAT_VARIABLE` instead"
                )
            else:
                yield from _inline_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _inline_secrets(item, (*path, index))


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _format_errors(exc: ValidationError, raw: dict, source: str) -> str:
    lines = []
    for error in exc.errors():
        # Drop the union-branch names pydantic inserts (``TrailingReference``, ``function-after[...]``).
        loc = tuple(
            p
            for p in error["loc"]
            if not (isinstance(p, str) and (p[:1].isupper() or p.startswith("function-")))
        )
        key = _dotted(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1])
            allowed = _allowed_keys(raw, loc[:-1])
            hint = ""
            if allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                hint += f"; expected one of: {', '.join(sorted(allowed))}"
            lines.append(f"{source}: {key}: unknown key{hint}")
        elif kind == "missing":
            lines.append(f"{source}: {key}: required key is missing{_expectation(loc)}")
        elif kind == "string_pattern_mismatch" and str(loc[-1]).endswith("_env"):
            lines.append(
                f"{source}: {key}: expected the NAME of an environment variable (capital letters, "
                f"digits and underscores, e.g. MY_SECRET), not a value"
            )
        else:
            got = _lookup(raw, loc)
            msg = error["msg"].removeprefix("Value error, ")
            # A rejected value may be a URL with credentials in it: never echo those.
            shown = (
                f" (got {redact_url_credentials(repr(got))})"
                if got is not None and not isinstance(got, dict | list)
                else ""
            )
            lines.append(f"{source}: {key}: {msg}{shown}")
    return "\n".join(dict.fromkeys(lines))


def _expectation(loc: tuple[Any, ...]) -> str:
    last = loc[-1] if loc else ""
    hints = {
        "features": ": list the model's features, e.g. `features: [{name: country, type: categorical}]`",
        "task": ": one of " + ", ".join(t.value for t in Task),
        "models": ": a list of monitored models",
        "name": ": a lowercase identifier",
        "type": ": numerical or categorical",
    }
    return hints.get(str(last), "")


def _allowed_keys(raw: dict, parent_loc: tuple[Any, ...]) -> set[str]:
    """The keys a model at ``parent_loc`` accepts, walking the pydantic model tree."""
    model: Any = MonitoringConfig
    for part in parent_loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return set()
        model = _model_of(field.annotation)
        if model is None:
            return set()
    fields = set(model.model_fields) - {"base_dir", "source_file"}
    if model is TrailingReference or model is PinnedReference:
        fields = set(TrailingReference.model_fields) | set(PinnedReference.model_fields)
    return fields


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None

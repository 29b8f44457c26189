"""Logging: JSON lines on stderr (stdout carries only MCP messages over stdio), with secrets redacted.

`configure_logging` installs one handler on the root logger with two filters and a formatter:

- `RequestContextFilter` stamps each record with the request id and the verified tenant and user
  of the request being handled (see `securemcp.observability.request_id`);
- `RedactSecrets` rewrites the record's text (message with its arguments, traceback, stack) once,
  replacing bearer tokens, JWTs, Authorization and Cookie values, passwords and other `*_token` /
  `*secret` parameters (also with percent-encoded names, `?access%5Ftoken=`), SQL `PASSWORD '...'`
  literals, URL passwords (`postgresql://user:***@host`) and PEM private keys;
- `JsonFormatter` writes one JSON object per line: ts, level, logger, message, request_id (the
  server's own), client_request_id (the caller's `X-Request-Id`, when safe), tenant, user, and for
  errors error_type, error and traceback (redacted; plain tracebacks never include local variables,
  and clients never see them: the SDK answers "Error executing tool <name>").

Servers log at WARNING by default: an INFO line per request halves throughput (the performance budget).
`SUPPLYCHAIN_LOG_LEVEL=INFO` adds uvicorn's access line per request (with its ids), for debugging.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from json import dumps
from urllib.parse import unquote_plus

from securemcp.observability.request_id import current_request

REDACTED = "***"
LOG_LEVEL_VARIABLE = "SUPPLYCHAIN_LOG_LEVEL"  # a server's log level (default WARNING; see the module docstring)

_SENSITIVE_NAME = r"(?:password|passwd|pwd|secret|token|credential|(?:api|secret|private|access)[_-]?key)s?"


@dataclass(frozen=True, slots=True)
class _Rule:
    """Replace `pattern` by `replacement`, in text that contains one of `triggers` (lower case).

    The triggers are plain substring tests: most log lines contain none, so most regexes never run.
    """

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]


def _encoded_parameter(match: re.Match[str]) -> str:
    """One query parameter, its value replaced when its decoded name is a sensitive one."""
    separator, raw = match[1], match[2]
    decoded = raw
    for _ in range(3):  # as often as a proxy and a framework together might decode it
        decoded = unquote_plus(decoded)
    name = decoded.split("=", 1)[0]
    if not re.search(rf"(?i){_SENSITIVE_NAME}", name):
        return match[0]
    cut = re.search(r"=|%(?:25)*3[dD]", raw)  # where its value starts, however the `=` is spelled
    return f"{separator}{raw[: cut.end()] if cut else raw}{REDACTED}"


def _quoted(value: str) -> str:
    """REDACTED, inside the same quotes as `value` had."""
    return f"{value[0]}{REDACTED}{value[0]}" if value[:1] in ("'", '"') else REDACTED


# Applied in this order: a private key first (its body would otherwise be cut up by the rules after
# it), bare JWTs last (the rules before them replace a token together with its label).
_RULES = (
    _Rule(
        ("private key",),
        re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
        "[REDACTED PRIVATE KEY]",
    ),
    # Header values in prose (`Authorization: Bearer x`), dicts (`'cookie': '...'`) and ASGI tuples
    # (`(b'authorization', b'Bearer x')`).
    _Rule(
        ("authorization", "cookie", "x-api-key"),
        re.compile(
            r"""(?i)\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key)"""
            r"""(['"]?\s*[:=]\s*['"]?|['"]\s*,\s*b?['"])[^'"\r\n]+"""
        ),
        rf"\1\2{REDACTED}",
    ),
    # A credential scheme and a token68 of 16 characters or more: not a challenge's `Bearer error="..."`,
    # nor the prose of "Bearer token resource ...".
    _Rule(
        ("bearer", "basic"),
        re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{16,}=*(?![\w=\"])"),
        rf"\1 {REDACTED}",
    ),
    # The password of any URL: scheme://user:PASSWORD@host
    _Rule(("://",), re.compile(r"(://[^\s:/?#@'\"]*):[^\s/?#'\"]*@"), rf"\1:{REDACTED}@"),
    # password=..., "client_secret": "...", 'refresh_token': '...', PGPASSWORD=..., api-key: ...
    _Rule(
        ("pass", "pwd", "secret", "token", "credential", "key"),
        re.compile(
            rf"""(?i)({_SENSITIVE_NAME})(['"]?\s*[:=]\s*)"""
            r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|(?!\[REDACTED)[^\s&,;'")}\]]+)"""
        ),
        lambda match: f"{match[1]}{match[2]}{_quoted(match[3])}",
    ),
    # A query parameter whose name is percent-encoded (`?access%5Ftoken=...`, even `access_token%3D...`):
    # decoded, its name is checked like any other.
    _Rule(("%",), re.compile(r"""([?&;])([^&;\s#'"]*%[^&;\s#'"]*)"""), _encoded_parameter),
    # PASSWORD 'x' in SQL (`ALTER ROLE ... PASSWORD '...'`), whatever its case.
    _Rule(
        ("password",),
        re.compile(r"(?i)\b(password)(\s+)('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")"),
        rf"\1\2'{REDACTED}'",
    ),
    # Three (or, for JWE, five) base64url segments whose header starts `{"`: a JWT, signed or not.
    _Rule(("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}"), "[REDACTED JWT]"),
)


def redact(text: str) -> str:
    """`text` with every secret the rules above recognise replaced by `***` (or a `[REDACTED ...]` tag)."""
    lowered = text.lower()
    for rule in _RULES:
        for trigger in rule.triggers:
            if trigger in lowered:
                text = rule.pattern.sub(rule.replacement, text)
                break
    return text


class RequestContextFilter(logging.Filter):
    """Stamps `request_id`, `tenant`, `user` and `client_request_id` on each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        if request is None:
            record.request_id = record.tenant = record.user = record.client_request_id = None
        else:
            record.request_id, record.tenant, record.user = request.request_id, request.tenant, request.user
            record.client_request_id = request.client_request_id
        return True


_TRACEBACKS = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Redacts the record's message (arguments merged in), exception and stack text, once, in place.

    In place, so every handler after this one sees the redacted record too. It never raises (a filter
    that raised would crash the code that logged) and fails closed: text it cannot redact is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = redact(record.getMessage()), None
            if record.exc_info and record.exc_info[1] is not None:
                record.redacted_error = redact(str(record.exc_info[1]))
                record.exc_text = redact(record.exc_text or _TRACEBACKS.formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        except Exception:  # a bad format string, a failing __str__: say so, keep none of the text
            record.msg, record.args = f"unformattable log record from {record.pathname}:{record.lineno}", None
            record.exc_info = record.exc_text = record.stack_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (control characters escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "client_request_id", "tenant", "user"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = _type_name(record.exc_info[0])
            entry["error"] = getattr(record, "redacted_error", None) or redact(str(record.exc_info[1]))
            entry["traceback"] = record.exc_text or redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = record.stack_info
        return dumps(entry)  # every value is a str: the C encoder's fast path


def _type_name(cls: type[BaseException]) -> str:
    """`ConnectionRefusedError`, `sqlalchemy.exc.OperationalError`: builtins unqualified, others with their module."""
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def server_log_level() -> str:
    """The level a server logs at: `SUPPLYCHAIN_LOG_LEVEL` if it names one, else WARNING."""
    level = os.environ.get(LOG_LEVEL_VARIABLE, "WARNING").upper()
    return level if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "WARNING"


def configure_logging(level: str | int = "WARNING", *, json: bool = True) -> logging.Handler:
    """Send every record to stderr at `level` (JSON lines unless `json=False`), replacing other handlers.

    Returns the handler, so a caller (a test) can find or remove it.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    return handler

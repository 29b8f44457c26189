"""Logs are JSON lines on stderr that name the request and never carry a secret.

Each test reads what `configure_logging`'s own handler wrote to stderr, parses every line as JSON and
searches all of it for the secrets it fed in: through log arguments, exception messages, a database
that cannot be reached (its DSN file holds a password), hostile tokens over HTTP and a stdio server.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from securemcp.observability.logs import configure_logging, redact
from securemcp.observability.request_id import RequestContextMiddleware, request_scope

from supplychain.servers import load_settings, server_for
from tests.helpers import identity
from tests.http.rpc import bearer, call_tool, list_tools
from tests.http.stack import Idp, Server, loopback_socket, probe_until_accepted, resource_url, start_idp, start_server
from tests.http.test_hostile_tokens import HOSTILE
from tests.http.tokens import mint

DB_PASSWORD = "Zq9-unreachable-S3cret"
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"
    ".eyJzdWIiOiJhbGljZUBhY21lIiwidGVuYW50X2lkIjoiYWNtZSJ9"
    ".c2lnbmF0dXJlLW5vLW9uZS1lbHNlLWNhbi1tYWtl"
)
MINTED_ID = re.compile(r"[0-9a-f]{16}")

Logs = Callable[[], list[dict[str, Any]]]


def unreachable_dsn_file(folder: Path) -> Path:
    """A DSN file naming a port where nothing listens, with a password that must stay out of the logs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = folder / "inventory.dsn"
    path.write_text(f"postgresql://inventory_svc:{DB_PASSWORD}@127.0.0.1:{port}/supplychain\n", encoding="utf-8")
    return path


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line of `text` as a JSON object (failing on the first line that is not one)."""
    records = []
    for line in text.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                pytest.fail(f"a stderr line is not JSON: {line[:200]!r}")
    return records


def assert_no_secret(records: list[dict[str, Any]], secrets: set[str]) -> None:
    for record in records:
        text = json.dumps(record)
        leaked = sorted(secret[:12] + "..." for secret in secrets if secret and secret in text)
        assert not leaked, (record["logger"], leaked, record["message"][:300])


class CurrentStderr:
    """Whatever `sys.stderr` is when written to: pytest swaps the captured stream between test phases."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    """`configure_logging("DEBUG")` writing to the captured stderr; returns a reader of its records so far."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    # Other tests' uvicorn servers leave levels on uvicorn's loggers; let everything through to the root.
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access", "uvicorn.error")]
    saved_levels = [(logger, logger.level, logger.disabled) for logger in uvicorn_loggers]
    for logger in uvicorn_loggers:
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    handler = configure_logging("DEBUG")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(CurrentStderr())
    records: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        records.extend(parse_lines(capsys.readouterr().err))
        return records

    yield read
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for logger, level, disabled in saved_levels:
        logger.setLevel(level)
        logger.disabled = disabled


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("connect to postgresql://inventory_svc:pw-1@db:5432/x", "pw-1", "postgresql://inventory_svc:***@db"),
        ("amqp://svc:pw-2@broker/vhost and redis://:pw-3@cache:6379", "pw-2", "redis://:***@cache"),
        ("Authorization: Bearer opaque-token-1234567890", "opaque-token", "Authorization: ***"),
        ("[(b'host', b'h'), (b'authorization', b'Basic dXNlcjpwYXNz')]", "dXNlcjpwYXNz", "(b'host', b'h')"),
        ("retrying with Bearer 0123456789abcdef0123", "0123456789abcdef0123", "retrying with Bearer ***"),
        (f"token {JWT} refused", JWT.rsplit(".", 1)[1], "token [REDACTED JWT] refused"),
        ("login password=hunter2&user=alice", "hunter2", "&user=alice"),
        ('{"password": "p w", "client_secret": "cs-9", "user": "u"}', "cs-9", '"user": "u"'),
        ("grant_type=refresh_token&refresh_token=rt-77&client_id=c", "rt-77", "grant_type=refresh_token&"),
        ("GET /mcp?access_token=at-55 HTTP/1.1", "at-55", "GET /mcp?access_token=*** HTTP/1.1"),
        ("GET /mcp?access_toke%6E=at-56 HTTP/1.1", "at-56", "GET /mcp?access_toke%6E=*** HTTP/1.1"),
        ("GET /mcp?a=1&access_token%3Dat-57 HTTP/1.1", "at-57", "GET /mcp?a=1&access_token%3D*** HTTP/1.1"),
        ("GET /mcp?%2561ccess%255Ftoken=at-58&b=2", "at-58", "&b=2"),
        ("ALTER ROLE inventory_svc LOGIN PASSWORD 'pw-59' CONNECTION LIMIT 20", "pw-59", "CONNECTION LIMIT 20"),
        ("alter role x with password 'it''s-pw-60'", "s-pw-60", "alter role x with password '***'"),
        ("key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----", "MHcCAQEE", "key: "),
    ],
)
def test_redact_removes_each_kind_of_secret_and_keeps_the_rest(text: str, secret: str, kept: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert kept in redacted


@pytest.mark.parametrize(
    "text",
    [
        'Bearer error="invalid_token", error_description="Authentication required", scope="inventory:read"',
        "Bearer token resource 'http://127.0.0.1:8101/mcp' is not resource_server_url",
        'password authentication failed for user "inventory_svc"',
        "token_type_hint=refresh_token served at http://127.0.0.1:8101/mcp",
    ],
)
def test_redact_leaves_text_without_secrets_alone(text: str) -> None:
    assert redact(text) == text


def test_a_jwt_in_log_arguments_never_reaches_stderr(json_logs: Logs) -> None:
    logging.getLogger("tests.logs").warning("refusing token %s for %s", JWT, "alice@acme")

    [record] = [record for record in json_logs() if record["logger"] == "tests.logs"]
    assert record["message"] == "refusing token [REDACTED JWT] for alice@acme"
    assert record["level"] == "WARNING" and record["ts"].endswith("Z")
    assert "request_id" not in record  # logged outside any request
    assert_no_secret([record], {JWT, JWT.rsplit(".", 1)[1]})


def test_an_exception_holding_a_password_is_logged_by_type_with_the_password_redacted(json_logs: Logs) -> None:
    dsn = f"postgresql://inventory_svc:{DB_PASSWORD}@db.internal:5432/supplychain"
    try:
        try:
            raise OSError(f"could not connect to {dsn}")
        except OSError as cause:
            raise RuntimeError(f"engine start failed (password={DB_PASSWORD})") from cause
    except RuntimeError:
        with request_scope("job-7"):
            logging.getLogger("tests.logs").exception("start-up failed for %s", dsn)

    [record] = [record for record in json_logs() if record["logger"] == "tests.logs"]
    assert record["request_id"] == "job-7"
    assert record["error_type"] == "RuntimeError"
    assert record["error"] == "engine start failed (password=***)"
    assert "postgresql://inventory_svc:***@db.internal:5432/supplychain" in record["traceback"]
    assert "OSError: could not connect to" in record["traceback"]  # the chain is kept, minus the secret
    assert_no_secret([record], {DB_PASSWORD, dsn})


def test_a_log_call_that_cannot_be_formatted_neither_raises_nor_leaks(json_logs: Logs) -> None:
    logging.getLogger("tests.logs").warning("wrong placeholder %d", f"password={DB_PASSWORD}")

    [record] = [record for record in json_logs() if record["logger"] == "tests.logs"]
    assert record["message"].startswith("unformattable log record from ")
    assert_no_secret([record], {DB_PASSWORD})


async def test_an_unreachable_database_is_logged_with_request_and_caller_but_not_its_dsn(
    json_logs: Logs, tmp_path: Path
) -> None:
    dsn_file = unreachable_dsn_file(tmp_path)
    settings = load_settings("inventory", database_url_file=dsn_file, pool_timeout_seconds=1)
    server = server_for(settings, local_identity=identity("alice@acme"))
    if not any(isinstance(middleware, RequestContextMiddleware) for middleware in server.middleware):
        server.middleware.insert(0, RequestContextMiddleware())  # as `register_tools` will, once wired

    async with Client(server) as client:
        first = await client.call_tool("list_warehouses", {})
        second = await client.call_tool("list_warehouses", {})

    assert first.is_error and second.is_error
    assert DB_PASSWORD not in str(first.content) + str(second.content)
    errors = [record for record in json_logs() if record["level"] == "ERROR"]
    assert errors, "the failed calls logged nothing"
    for record in errors:
        assert record["error_type"] and record["traceback"].startswith("Traceback")
        assert (record["tenant"], record["user"]) == ("acme", "alice@acme")
        assert MINTED_ID.fullmatch(record["request_id"])
    assert len({record["request_id"] for record in errors}) == 2, "one request id per JSON-RPC message"
    assert_no_secret(json_logs(), {DB_PASSWORD, dsn_file.read_text().strip()})


# --- stdio: the real `supplychain serve` process -------------------------------------------------------

SERVE = [sys.executable, "-m", "supplychain.cli", "serve", "inventory", "--transport", "stdio"]
ALICE = {"SUPPLYCHAIN_TENANT": "acme", "SUPPLYCHAIN_USER": "alice@acme", "SUPPLYCHAIN_ROLES": "supply_chain_manager"}


@dataclass
class StdioRun:
    answers: list[dict[str, Any]]
    stderr: str
    dsn: str


@pytest.fixture(scope="module")
def stdio_run(tmp_path_factory: pytest.TempPathFactory) -> StdioRun:
    """Two failing tool calls against a stdio server whose DSN file points at no database."""
    dsn_file = unreachable_dsn_file(tmp_path_factory.mktemp("stdio"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPLYCHAIN_")}
    env |= {**ALICE, "SUPPLYCHAIN_INVENTORY_DATABASE_URL_FILE": str(dsn_file)}
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_warehouses", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "list_reorders", "arguments": {}}},
    ]  # fmt: skip
    process = subprocess.Popen(
        SERVE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    answers = []
    for message in messages:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        if "id" in message:  # wait for each answer, so no call is cut short by the end of input
            answers.append(json.loads(process.stdout.readline()))
    _, stderr = process.communicate(timeout=60)
    return StdioRun(answers=answers, stderr=stderr, dsn=dsn_file.read_text().strip())


@pytest.mark.slow
def test_stdio_server_writes_only_json_lines_to_stderr_and_never_its_dsn(stdio_run: StdioRun) -> None:
    assert [answer["result"]["isError"] for answer in stdio_run.answers[1:]] == [True, True]
    records = parse_lines(stdio_run.stderr)
    assert records and all(record["level"] in ("WARNING", "ERROR", "CRITICAL") for record in records)
    assert any(record.get("error_type") for record in records)
    assert_no_secret(records, {DB_PASSWORD, stdio_run.dsn})


@pytest.mark.slow
def test_stdio_records_carry_one_request_id_per_message_and_the_local_caller(stdio_run: StdioRun) -> None:
    errors = [record for record in parse_lines(stdio_run.stderr) if record["level"] == "ERROR"]
    assert errors and all(MINTED_ID.fullmatch(record.get("request_id", "")) for record in errors)
    assert all((record["tenant"], record["user"]) == ("acme", "alice@acme") for record in errors)
    assert len({record["request_id"] for record in errors}) == 2


# --- HTTP: a real server on loopback, behind its dev IdP ---------------------------------------------


@dataclass
class HttpStack:
    idp: Idp
    server: Server
    dsn: str


@pytest.fixture(scope="module")
def http_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpStack]:
    """The dev IdP and an inventory server whose DSN file points at no database (no Postgres needed)."""
    folder = tmp_path_factory.mktemp("http")
    sock = loopback_socket()
    idp = start_idp(folder / "idp-keys", {"inventory": resource_url(sock.getsockname()[1])})
    dsn_file = unreachable_dsn_file(folder)
    try:
        server = start_server("inventory", idp.issuer, sock=sock, database_url_file=dsn_file, pool_timeout_seconds=1)
        try:
            probe_until_accepted(server, mint(idp, user="alice@acme", server="inventory"))
            yield HttpStack(idp=idp, server=server, dsn=dsn_file.read_text().strip())
        finally:
            server.served.stop()
    finally:
        idp.served.stop()


async def test_a_safe_incoming_request_id_is_kept_apart_from_the_servers_own(
    http_stack: HttpStack, json_logs: Logs
) -> None:
    token = mint(http_stack.idp, user="alice@acme", server="inventory")
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await call_tool(
            http, http_stack.server.url, token, "list_warehouses", headers={"X-Request-Id": "gw-2f1c.a_9"}
        )

    request_id = answer.headers["x-request-id"]
    assert MINTED_ID.fullmatch(request_id), request_id  # the server's own, never the caller's
    mine = [record for record in json_logs() if record.get("request_id") == request_id]
    errors = [record for record in mine if record["level"] == "ERROR"]
    assert errors, "the failed tool call logged no error under the request's id"
    assert any(record["logger"] == "uvicorn.access" for record in mine)
    assert all(record["client_request_id"] == "gw-2f1c.a_9" for record in mine)
    assert not [record for record in json_logs() if record.get("request_id") == "gw-2f1c.a_9"]
    assert_no_secret(json_logs(), {token, DB_PASSWORD, http_stack.dsn})


@pytest.mark.parametrize("incoming", [None, "", "x" * 65, "two words", "id;drop", "../../etc", "a\tb"])
async def test_an_unsafe_or_missing_request_id_is_dropped(
    http_stack: HttpStack, json_logs: Logs, incoming: str | None
) -> None:
    token = mint(http_stack.idp, user="alice@acme", server="inventory")
    headers = {} if incoming is None else {"X-Request-Id": incoming}
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await list_tools(http, http_stack.server.url, token, headers=headers)

    request_id = answer.headers["x-request-id"]
    assert MINTED_ID.fullmatch(request_id), request_id
    mine = [record for record in json_logs() if record.get("request_id") == request_id]
    assert mine and not [record for record in mine if "client_request_id" in record]


async def test_refusals_carry_a_request_id_and_bad_tokens_leave_no_trace_in_the_logs(
    http_stack: HttpStack, json_logs: Logs
) -> None:
    url, idp = http_stack.server.url, http_stack.idp
    tokens = {kind: make(idp) for kind, make in HOSTILE.items()}
    answers = []
    async with httpx2.AsyncClient(timeout=10) as http:
        for token in tokens.values():
            answers.append(await call_tool(http, url, token, "list_warehouses"))
        valid = mint(idp, user="alice@acme", server="inventory")
        answers.append(await http.get(url, params={"access_token": valid}))  # 400: tokens only in headers
        answers.append(await http.get(f"{url}?access_toke%6E={valid}"))  # 400, however the name is spelled
        answers.append(await list_tools(http, url, valid, headers={"Origin": "http://evil.example"}))  # 403
        answers.append(await http.post(url, json={}, headers={**bearer(valid), "Host": "evil.example"}))  # 421
        answers.append(await call_tool(http, url, valid, "list_warehouses"))  # the database error path

    assert sorted({answer.status_code for answer in answers}) == [200, 400, 401, 403, 421]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == len(ids) and all(MINTED_ID.fullmatch(value) for value in ids)
    records = json_logs()
    assert {record["request_id"] for record in records if "request_id" in record} <= set(ids)
    secrets = {token for token in tokens.values() if token} | {valid, DB_PASSWORD, http_stack.dsn}
    secrets |= {token.rsplit(".", 1)[1] for token in secrets if token.count(".") == 2 and not token.endswith(".")}
    assert_no_secret(records, secrets)

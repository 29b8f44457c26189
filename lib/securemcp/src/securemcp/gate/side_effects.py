"""One declaration per side effect: the library derives its MCP tool, its approval question and its execution.

A side-effecting tool is declared once, in its server's `tools.py`:

    release_payment = SideEffect(
        name="release_payment",
        title="Release a supplier payment",
        scope="payments:release",
        arguments=ReleasePayment,   # a frozen dataclass: the input schema; its docstring, the description
        lock=pending_payment,       # (who, session, arguments) -> the row the effect acts on, FOR UPDATE
        level="verified",           # every call needs at least this level,
        raise_level=large_payment,  # and this rule may raise one call's, reading that row
        question=release_question,  # (row, who) -> Question: trusted fields only, outside text apart
        effect=release,             # (who, session, row) -> the Public model the caller gets
        annotations=RELEASE,
    )

Without `lock`, the arguments themselves are what the level rule, the question and the effect read.

From the declaration come (and nothing else is written per tool):
- the MCP tool (`tool_function`): the arguments' fields plus `idempotency_key`, which is the gate's
  (`securemcp.gate.idempotency`) and never reaches the effect; the caller and the person's answer are
  injected by `Resolve`, outside the input schema. Its result is the effect's model with every
  `UntrustedText` fenced (`securemcp.untrusted.fenced`);
- the approval resolver, run before anything changes: it loads the row in a short transaction of its
  own, decides this call's level on it, builds the question and passes both to
  `securemcp.approvals.paths.seek_approval` (which asks in band at `confirm`, else records a pending approval);
- the execution (`execute`), after the requester's yes in band or a decision on the approval page
  (`executor`): in the transaction that commits with the audit record, it locks the row again, decides
  the level again and refuses (`ConflictError`, nothing changed) when the row now needs a stricter level
  than the one the question was asked at. A yes given for a small payment never releases a large one.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, cast

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, create_model
from sqlmodel.ext.asyncio.session import AsyncSession

from securemcp.approvals.answer import ConfirmAnswer, Deferred, require_approval
from securemcp.approvals.paths import seek_approval
from securemcp.approvals.pending import ApprovableTool, Question
from securemcp.errors import LevelRaisedError
from securemcp.gate.idempotency import ARGUMENT as IDEMPOTENCY_KEY
from securemcp.gate.idempotency import IdempotencyKey
from securemcp.gate.tool_gate import ToolRule
from securemcp.identity.principal import Identity
from securemcp.levels import Level, LevelRule, rank, strictest
from securemcp.policy import RolePolicy
from securemcp.runtime.caller import Caller, CallerDep
from securemcp.untrusted import fenced

ArgumentsT = TypeVar("ArgumentsT")

TargetT = TypeVar("TargetT")

# The only level a yes given in band proves (`securemcp.approvals.paths`); the others are decided on the page.
IN_BAND: Level = "confirm"
# Names the derived tool gives its own parameters: an arguments class may not use them.
_INJECTED = ("caller", "approval", IDEMPOTENCY_KEY)


@dataclass(frozen=True)
class SideEffect(Generic[ArgumentsT, TargetT]):
    """One side-effecting tool, declared once (see the module docstring)."""

    name: str
    title: str
    scope: str
    arguments: type[ArgumentsT]
    level: Level
    question: Callable[[TargetT, Identity], Question]
    effect: Callable[[Identity, AsyncSession, TargetT], Awaitable[BaseModel]]
    annotations: ToolAnnotations
    lock: Callable[[Identity, AsyncSession, ArgumentsT], Awaitable[TargetT]] | None = None
    raise_level: LevelRule[TargetT] | None = None

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.arguments):
            raise TypeError(f"side effect {self.name!r}: its arguments must be a dataclass")
        doc = self.arguments.__doc__ or ""
        if not doc.strip() or doc.startswith(f"{self.arguments.__name__}("):  # the dataclass's own stand-in
            raise TypeError(f"side effect {self.name!r}: {self.arguments.__name__} needs a docstring for the model")
        fields = dataclasses.fields(self.arguments)
        taken = sorted(set(_INJECTED) & {field.name for field in fields})
        if taken:
            raise TypeError(f"side effect {self.name!r}: argument name(s) {', '.join(taken)} are the library's")
        if any(field.default_factory is not dataclasses.MISSING for field in fields):
            # A schema shows a default, not a factory: the argument would silently become required.
            raise TypeError(f"side effect {self.name!r}: give its arguments plain defaults, not default factories")

    @property
    def rule(self) -> ToolRule:
        """What the tool gate enforces: the scope, and that a human approves the call."""
        return ToolRule(self.scope, side_effect=True)

    @property
    def description(self) -> str:
        """What a model reads about the tool: the arguments class's docstring."""
        return self.arguments.__doc__ or ""

    def level_for(self, target: TargetT, floor: Level) -> Level:
        """This call's level: `floor` (the declared level, or the deployment's), raised by the rule on `target`."""
        return strictest(floor, self.raise_level(target) if self.raise_level is not None else None)

    async def target(self, who: Identity, session: AsyncSession, arguments: ArgumentsT) -> TargetT:
        """What the effect acts on: the row `lock` loads and locks for `arguments`, or the arguments themselves."""
        if self.lock is None:
            return cast(TargetT, arguments)
        return await self.lock(who, session, arguments)

    async def execute(
        self, who: Identity, session: AsyncSession, arguments: ArgumentsT, *, asked_at: Level, floor: Level
    ) -> BaseModel:
        """Lock the target, decide its level again, and run the effect only if `asked_at` still covers it."""
        target = await self.target(who, session, arguments)
        needed = self.level_for(target, floor)
        if rank(needed) > rank(asked_at):
            # Fail closed: the row changed after the question, and the person who said yes was not the one
            # this call now needs (e.g. a payment raised above the four-eyes threshold meanwhile).
            raise LevelRaisedError(
                f"{self.name} now needs {needed} approval, more than the {asked_at} it was asked at: what it acts "
                "on changed after the question; nothing changed"
            )
        return await self.effect(who, session, target)

    def tool_function(self, floor: Level) -> Callable[..., Awaitable[CallToolResult]]:
        """The MCP tool, asking at `floor` or above; its signature is what the SDK reads for the input schema."""
        fields = _parameters(self.arguments)
        build = cast(Callable[..., ArgumentsT], self.arguments)

        async def ask(ctx: Context, caller: Caller, **values: Any) -> Elicit[ConfirmAnswer] | Deferred:
            arguments = build(**values)
            if self.lock is None:  # the arguments are the target: nothing to read, no database round trip
                target = cast(TargetT, arguments)
            else:
                # Before anyone is asked: a short read of its own, so no transaction is held while a person decides.
                async with caller.lookup() as session:
                    target = await self.target(caller.identity, session, arguments)
            level = self.level_for(target, floor)
            return await seek_approval(ctx, caller, self.question(target, caller.identity), level)

        _declare(
            ask, f"{self.name}.approval", self.arguments.__module__,
            parameters=[_keyword("ctx", Context), _keyword("caller", CallerDep), *_by_name(fields)],
            returns=Elicit[ConfirmAnswer] | Deferred,
        )  # fmt: skip

        async def tool(**values: Any) -> CallToolResult:
            caller: Caller = values.pop("caller")
            require_approval(values.pop("approval"), self.name)
            del values[IDEMPOTENCY_KEY]  # the gate's: a retry with a used key never reaches this body
            async with caller.transaction() as session:
                result = await self.execute(caller.identity, session, build(**values), asked_at=IN_BAND, floor=floor)
            return fenced(result)

        answer = Annotated[ElicitationResult[ConfirmAnswer], Resolve(ask)]
        output = typing.get_type_hints(self.effect)["return"]
        _declare(
            tool, self.name, self.arguments.__module__, doc=self.description,
            parameters=[
                _keyword("caller", CallerDep), *fields, _keyword("approval", answer),
                _keyword(IDEMPOTENCY_KEY, IdempotencyKey, default=None),
            ],
            returns=Annotated[CallToolResult, output],
        )  # fmt: skip
        return tool

    def executor(self, floor: Level, policy: RolePolicy | None = None) -> ApprovableTool:
        """What a decision on the approval page runs: the recorded arguments, checked against the tool's own
        schema (unknown ones refused), executed at the approval's level or refused."""
        fields = _parameters(self.arguments)
        build = cast(Callable[..., ArgumentsT], self.arguments)
        schema: dict[str, Any] = {
            field.name: (field.annotation, ... if field.default is field.empty else field.default) for field in fields
        }
        schema[IDEMPOTENCY_KEY] = (IdempotencyKey, None)  # checked like any argument, though the gate's
        recorded = create_model(f"{self.name}_arguments", __config__=ConfigDict(extra="forbid"), **schema)

        async def execute(who: Identity, session: AsyncSession, arguments: Mapping[str, Any], asked_at: Level) -> Any:
            values = recorded.model_validate(dict(arguments))
            chosen = build(**{field.name: getattr(values, field.name) for field in fields})
            return await self.execute(who, session, chosen, asked_at=asked_at, floor=floor)

        return ApprovableTool(execute, scope=self.scope, policy=policy)


def _parameters(arguments: type[Any]) -> list[inspect.Parameter]:
    """The dataclass's fields as keyword-only parameters, with their annotated types and defaults."""
    hints = typing.get_type_hints(arguments, include_extras=True)
    return [
        _keyword(field.name, hints[field.name], default=field.default)
        for field in dataclasses.fields(arguments)
        if field.init
    ]


def _keyword(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    if default is dataclasses.MISSING:
        default = inspect.Parameter.empty
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _by_name(fields: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """The fields without their types: a resolver receives tool arguments by name, already validated."""
    return [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY) for field in fields]


def _declare(
    function: Callable[..., Any],
    name: str,
    module: str,
    *,
    parameters: list[inspect.Parameter],
    returns: Any,
    doc: str | None = None,
) -> None:
    """Give a derived function the name, signature and annotations the SDK inspects (`inspect`, `typing`)."""
    function.__name__ = function.__qualname__ = name  # the qualified name is also the resolver's wire key
    function.__module__, function.__doc__ = module, doc
    function.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    function.__annotations__ = {
        **{p.name: p.annotation for p in parameters if p.annotation is not p.empty},
        "return": returns,
    }

"""The tool gate: the one place that decides whether a caller may see or call a tool.

Public names: `side_effects.SideEffect` (one declaration per side effect: its tool, question and
execution), `tool_table.ReadTool`, `tool_table.ToolTable`, `tool_table.register_tools`,
`tool_table.approval_executors`, `server_factory.build_server`, `tool_gate.ToolRule`,
`deferred_approvals.install_approval_paths`, `idempotency.keyed_call`, `common_tools.common_tools`
(the activity log and `get_approval`, on every server).

Guarantees: fail closed (a tool without a rule is unknown); every call needs its tool's scope and
leaves exactly one audit record, refused or not; undeclared arguments are refused; a side effect
with a used idempotency key is answered from the key, never run twice; no tool may require a
`<server>:decide` scope, so no agent decides an approval; a side effect's level is decided on the
row it acts on, again under the row lock when it runs, and it never runs at a lower level than
that row needs.
"""

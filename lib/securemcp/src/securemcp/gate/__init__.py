"""The tool gate: the one place that decides whether a caller may see or call a tool.

Public names: `tool_gate.ToolRule`, `tool_gate.ToolSpec`, `tool_gate.register_tools`,
`deferred_approvals.install_approval_paths`, `idempotency.keyed_call`, `common_tools.common_tools`
(the activity log and `get_approval`, on every server).

Guarantees: fail closed (a tool without a rule is unknown); every call needs its tool's scope and
leaves exactly one audit record, refused or not; undeclared arguments are refused; a side effect
with a used idempotency key is answered from the key, never run twice; no tool may require a
`<server>:decide` scope, so no agent decides an approval.
"""

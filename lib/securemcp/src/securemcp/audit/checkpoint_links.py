"""How a server's checkpoints name each other, as `audit verify` checks it.

Each checkpoint names the writer's previous one (`prev`, checked per writer for gaps by
`securemcp.audit.verify`) and the newest one of its server the sink held before it (`after`, whichever
writer wrote it: `securemcp.audit.checkpoint_lines`). So every checkpoint but the newest is named by
a later one, and removing lines from the sink (all of one writer's, say, together with the records
they alone covered) leaves an `after` that names nothing: `dangling_references` says which. The
newest checkpoints are named by none; `newest_checkpoints` returns them, for `audit verify` to
remember (`securemcp.audit.verified_heads`): their absence later means the sink went back.
"""

from __future__ import annotations

from typing import Any

from securemcp.audit.checkpoint_lines import checkpoint_hash


def dangling_references(trusted: list[dict[str, Any]]) -> list[str]:
    """One finding per checkpoint named by an `after` but absent from `trusted` (one server's genuine lines)."""
    present = {checkpoint_hash(line) for line in trusted}
    findings: dict[str, str] = {}
    for line in trusted:
        after = line.get("after")
        # Naming the writer's own previous checkpoint: a gap in its sequence, already named as such.
        if after is None or after["hash"] in present or after["hash"] == line["prev"] or after["hash"] in findings:
            continue
        findings[after["hash"]] = (
            f"CHECKPOINT MISSING: checkpoint {line['n']} of writer {line['writer']} follows checkpoint "
            f"{after['n']} of writer {after['writer']} ({after['hash'][:16]}...), which is not among the "
            "checkpoints: a writer's lines were removed from the sink"
        )
    return list(findings.values())


def newest_checkpoints(trusted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checkpoints of `trusted` that no other names (by `prev` or `after`), summarised to remember them."""
    named = {line["prev"] for line in trusted} | {line["after"]["hash"] for line in trusted if line.get("after")}
    newest = [line for line in trusted if checkpoint_hash(line) not in named]
    return sorted(
        (
            {"writer": line["writer"], "n": line["n"], "hash": checkpoint_hash(line), "tenant": line["tenant"],
             "last_seq": line["last_seq"], "at": line.get("at")}
            for line in newest
        ),
        key=lambda head: (head["writer"], head["n"]),
    )  # fmt: skip

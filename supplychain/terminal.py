"""What the CLI prints to an operator's terminal: stored text made visible, one printed line per line.

The audit trail, approvals and checkpoint files hold text that callers wrote: a tool name that does not
exist, an argument name, an error that quotes them. Printed raw, a newline in it forges a report line
("nothing flagged"), and an escape sequence moves the cursor, erases the screen, retitles the window
or plants a hyperlink. `printable` spells every such character out as its Python escape (`\\x1b`,
`\\n`, `\\u202e`), so a stored value stays on its record's line and shows exactly what was stored:

- control characters: C0 (ESC, CR, LF and TAB included), DEL, and C1 (U+009B, a one-byte CSI, included);
- format characters: bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069), zero-width
  characters and marks (U+200B-200F), the byte-order mark U+FEFF, and every other of Unicode's Cf;
- line and paragraph separators (U+2028, U+2029) and lone surrogates, which no terminal should get.

Every command that prints stored text prints it through `echo_lines` (the demo's transcript through
`printable`). click strips some CSI sequences
when stdout is a pipe, never on a terminal, and never OSC or C1: it is no defence. A backslash is left
alone: a stored backslash and an escaped character can read alike, but no raw control byte gets through.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import click

# Control, format, surrogate, line separator, paragraph separator.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with every control, format and separator character spelled out as its escape."""
    if text.isascii() and text.isprintable():  # the common case: nothing to spell out
        return text
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _UNPRINTABLE else char
        for char in text
    )


def echo_lines(lines: Iterable[str], *, err: bool = False) -> None:
    """Print each of `lines` through `printable`: one terminal line each, whatever it quotes."""
    for line in lines:
        click.echo(printable(line), err=err)

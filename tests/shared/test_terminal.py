"""`supplychain.terminal.printable`: what the CLI makes of stored text before a terminal sees it."""

from __future__ import annotations

import pytest

from supplychain.terminal import printable

SPELLED_OUT = [
    ("\x1b]0;title\x07", r"\x1b]0;title\x07"),  # OSC: retitles the window
    ("\x1b]8;;http://evil\x07here\x1b]8;;\x07", r"\x1b]8;;http://evil\x07here\x1b]8;;\x07"),  # OSC 8: a hyperlink
    ("\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),  # CSI: erase the screen, cursor home
    ("\x9b2J", r"\x9b2J"),  # the same CSI as one C1 character
    ("forged\r\nnothing flagged\tend", r"forged\r\nnothing flagged\tend"),
    ("\x00\x7f\x85", r"\x00\x7f\x85"),  # NUL, DEL, NEL
    ("\u202aa\u202b\u202c\u202d\u202e", r"\u202aa\u202b\u202c\u202d\u202e"),  # bidi embeddings and overrides
    ("\u2066\u2067\u2068\u2069", r"\u2066\u2067\u2068\u2069"),  # bidi isolates
    ("\u200b\u200c\u200d\u200e\u200f\ufeff", r"\u200b\u200c\u200d\u200e\u200f\ufeff"),  # zero-width, marks, BOM
    ("line\u2028para\u2029", r"line\u2028para\u2029"),  # Unicode's line and paragraph separators
    ("\ud800", r"\ud800"),  # a lone surrogate: no terminal encoding can print it
]


@pytest.mark.parametrize(("stored", "shown"), SPELLED_OUT)
def test_control_format_and_separator_characters_are_spelled_out(stored: str, shown: str) -> None:
    assert printable(stored) == shown


def test_printable_text_is_left_as_it_is() -> None:
    text = "inventory create_reorder: ok 2 — café, 東京, ‘quoted’ \\x1b as typed, x3…"
    assert printable(text) == text

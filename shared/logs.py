"""Logging setup: everything to stderr, so stdout carries only MCP messages over stdio."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "WARNING") -> None:
    """Send all log records to stderr at `level`, replacing handlers others installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)

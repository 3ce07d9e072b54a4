"""One error type for problems the user can fix, printed as one line without a traceback."""

from __future__ import annotations


class AfxError(Exception):
    """A problem with the user's input or environment; its message is the whole story."""


def one_line(message: str) -> str:
    """Collapse a (possibly multi-line) message into a single line."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())

"""argparse for afx's subcommands: `--help` prints usage (exit 0); a bad option is one line, exit code 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

from afx.errors import AfxError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are AfxError: `afx <name>: error: <message>` (exit 2), without the usage."""

    def __init__(self, prog: str, doc: str | None, **kwargs: object) -> None:
        super().__init__(
            prog=prog,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
            **kwargs,  # type: ignore[arg-type]
        )

    def error(self, message: str) -> NoReturn:
        raise AfxError(message)

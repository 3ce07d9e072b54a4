"""`python -m afx` and the `afx` console script: the same Hydra app."""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from afx.errors import AfxError, one_line
from afx.paths import conf_dir


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from afx.job import run_job

    try:
        run_job(cfg)
    except AfxError as exc:
        print(f"afx: error: {one_line(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    return None


def main() -> None:
    """Validate the command line (one clear line on bad input), then hand over to Hydra."""
    from afx.preflight import validate

    if os.environ.get("AFX_SKIP_PREFLIGHT") != "1":
        try:
            validate(sys.argv[1:])
        except AfxError as exc:
            if os.environ.get("AFX_DEBUG") == "1":
                raise
            print(f"afx: error: {one_line(str(exc))}", file=sys.stderr)
            raise SystemExit(2) from None
    _app()


if __name__ == "__main__":
    main()

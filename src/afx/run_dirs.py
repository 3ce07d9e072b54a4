"""Output folders unique per afx process: `${afx_stamp:}` in conf/hydra/afx.yaml's run and sweep dirs.

The stamp is the start second plus the launcher's pid, so two sweeps (or single runs) started in the same second
never share a folder. It is kept in the environment variable AFX_RUN_STAMP as `<stamp>:<owner pid>`: the
launcher's worker processes (joblib/loky, its direct children) resolve the same folder, while any other afx
process that inherited the variable (started from a test, a script or a job) makes its own.
"""

from __future__ import annotations

import os
import time

from omegaconf import OmegaConf

ENV = "AFX_RUN_STAMP"
RESOLVER = "afx_stamp"


def run_stamp() -> str:
    """`YYYY-mm-dd_HH-MM-SS_<pid>` of the process that launched this run (its own, if it is the launcher)."""
    stamp, _, owner = os.environ.get(ENV, "").rpartition(":")
    if stamp and owner.isdigit() and int(owner) in (os.getpid(), os.getppid()):
        return stamp
    pid = os.getpid()
    stamp = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{pid}"
    os.environ[ENV] = f"{stamp}:{pid}"
    return stamp


def register() -> None:
    """Register the `afx_stamp` resolver (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, run_stamp, use_cache=True)

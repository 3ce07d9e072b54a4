"""What the summary computes (Options) and what it produced (Summary): shared by pipeline.py and report.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from afx.errors import AfxError

from . import analysis as an

FIGURES = ("fig13", "fig14", "fig15", "fig16")
FORMATS = ("png", "svg")


@dataclass
class Options:
    """What to compute and draw (the callback's and the command's knobs)."""

    conditioning: str = "af_partial"  # AF label Fig. 15 conditions on
    paper_overlay: bool = False  # Fig. 14: also draw the variation files' paper reference points
    bootstrap: str = "variations"  # Fig. 14 CIs: variations | hierarchical | transcripts (analysis.py)
    n_boot: int = 2000
    seed: int = 0
    ci: float = 0.95
    figures: Sequence[str] = FIGURES
    formats: Sequence[str] = FORMATS
    transcripts: bool = True  # False: logged aggregates only (no bootstrap over transcripts)
    workers: int = 8  # parallel downloads from remote artifact stores
    dpi: int = 150
    correct_with: str | None = None  # validation report (JSON, format of `afx validate-classifier out=`)
    correct_prior: float = 0.5  # Beta / Dirichlet prior of the correction's bootstrap (0.5 = Jeffreys)
    correction: Any = field(default=None, init=False, repr=False)  # corrected.Correction, loaded here

    def __post_init__(self) -> None:
        if self.conditioning not in an.AF_LABELS:
            raise AfxError(f"conditioning must be one of {', '.join(an.AF_LABELS)} (got '{self.conditioning}')")
        if self.bootstrap not in an.BOOTSTRAPS:
            raise AfxError(f"bootstrap must be one of {', '.join(an.BOOTSTRAPS)} (got '{self.bootstrap}')")
        unknown = set(self.figures) - set(FIGURES)
        if unknown:
            raise AfxError(f"unknown figure(s) {', '.join(sorted(unknown))} (choose from {', '.join(FIGURES)})")
        bad = set(self.formats) - {"png", "svg", "pdf"}
        if bad:
            raise AfxError(f"unknown figure format(s) {', '.join(sorted(bad))} (png, svg, pdf)")
        if self.correct_with:  # read the report now: a bad one fails before any run is loaded
            from .corrected import load_correction

            if not 0 < self.correct_prior <= 1:
                raise AfxError(f"correct_prior must be in (0, 1] (got {self.correct_prior})")
            self.correction = load_correction(self.correct_with, prior=self.correct_prior)


@dataclass
class Summary:
    """Everything the summary produced, in memory."""

    tables: dict[str, pl.DataFrame]
    figures: dict[str, Any]
    notes: list[str]
    metrics: dict[str, float]
    header: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    run_id: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    stamps: dict[str, str] = field(default_factory=dict)  # figure -> instrument stamp (footer, file metadata)

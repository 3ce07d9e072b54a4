"""The instrument stamp of a figure or table: which model(s) and classifier(s) made its numbers, whether the
model is the simulator, which of the classifier's labels are unvalidated, and any judge-error correction.
Stamped in every figure's footer, in the PNG/SVG/PDF metadata, and (as columns) in every table."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


def _values(table: pl.DataFrame, column: str) -> list[str]:
    if column not in table.columns or not table.height:
        return []
    return sorted({str(v) for v in table[column].to_list() if v not in (None, "")})


def _split(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip() and part.strip() not in out)
    return sorted(set(out))


def instrument_stamp(table: pl.DataFrame) -> str:
    """'model: X (simulated) · classifier: heuristic, unvalidated: af_partial, af_full · corrected with ...'."""
    if not table.height:
        return "no runs"
    models = ", ".join(_values(table, "model")) or "n/a"
    backends = _values(table, "backend")
    if "simulated" in backends:
        models += " (simulated)" if backends == ["simulated"] else f" (simulated: {len(backends)} backends)"
    bits = [f"model: {models}", f"classifier: {', '.join(_values(table, 'classifier')) or 'n/a'}"]
    bad = _split(_values(table, "unvalidated"))
    bits[-1] += f", unvalidated: {', '.join(bad)}" if bad else ", validated"
    bits.extend(_values(table, "corrected"))
    return " · ".join(bits)


def is_simulated(table: pl.DataFrame) -> bool:
    return "simulated" in _values(table, "backend")

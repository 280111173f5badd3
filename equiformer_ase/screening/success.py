"""AdsorbML's success rate (Lan et al. 2023): is the ML+SP pipeline's best energy as low as the reference's own?

Per system (surface, adsorbate), from plain records (dicts with the screening rows' keys):

* candidates, one per ML-relaxed placement: ``adsorption_energy`` (the potential's, eV), ``anomaly``
  ("" when none), ``sp_adsorption_energy`` (the reference's single point at that structure, eV; NaN
  or absent where none was computed) and ``final_site``;
* reference relaxations of the same placements (the dense ground truth): ``adsorption_energy``,
  ``anomaly``, ``final_site``.

The reference minimum is the lowest anomaly-free reference energy; a system without one has no ground
truth and is left out. The ML+SP pipeline ranks the anomaly-free candidates by the potential's energy
and verifies the k lowest: the system succeeds at k when the lowest verified energy is at most
``THRESHOLD`` above the reference minimum (below it counts). No anomaly-free candidate is a failure.
ML-only success also asks the potential's own best energy to be within ``THRESHOLD`` of the minimum
(or below) and of its single point: |E_ML - E_SP| <= ``THRESHOLD``.
"""

from __future__ import annotations

import math

THRESHOLD = 0.1  # eV


def reference_minimum(reference: list[dict]) -> dict | None:
    """The anomaly-free reference record with the lowest ``adsorption_energy``, or None."""
    valid = [r for r in reference if r["anomaly"] == ""]
    return min(valid, key=lambda r: r["adsorption_energy"], default=None)


def ranked(candidates: list[dict]) -> list[dict]:
    """The anomaly-free candidates, lowest ML ``adsorption_energy`` first (what the pipeline verifies)."""
    return sorted((c for c in candidates if c["anomaly"] == ""), key=lambda c: c["adsorption_energy"])


def _verified(candidate: dict) -> float:
    value = candidate.get("sp_adsorption_energy")
    return math.nan if value is None else float(value)


def best_verified(candidates: list[dict], k: int) -> dict | None:
    """Of the ``k`` lowest anomaly-free candidates, the one with the lowest single-point energy, or None."""
    verified = [c for c in ranked(candidates)[:k] if math.isfinite(_verified(c))]
    return min(verified, key=_verified, default=None)


def succeeds(candidates: list[dict], minimum: float, k: int) -> bool:
    """Success at ``k`` against the reference ``minimum`` (eV)."""
    best = best_verified(candidates, k)
    return best is not None and _verified(best) - minimum <= THRESHOLD


def ml_only_succeeds(candidates: list[dict], minimum: float) -> bool:
    """The potential's best energy within ``THRESHOLD`` of ``minimum`` (or below) and of its own single point."""
    top = ranked(candidates)[:1]
    if not top or not math.isfinite(_verified(top[0])):
        return False
    ml = top[0]["adsorption_energy"]
    return ml - minimum <= THRESHOLD and abs(ml - _verified(top[0])) <= THRESHOLD


def failure_reason(candidates: list[dict], minimum: dict, k: int) -> str:
    """Why a system fails at ``k``: "anomaly" (no anomaly-free candidate), "wrong site" (the best verified
    structure's ``final_site`` differs from the reference minimum's) or "energy error" (same site, but
    its verified energy is more than ``THRESHOLD`` above); "" when it succeeds."""
    best = best_verified(candidates, k)
    if best is None:
        return "anomaly"
    if _verified(best) - minimum["adsorption_energy"] <= THRESHOLD:
        return ""
    return "wrong site" if best["final_site"] != minimum["final_site"] else "energy error"


def success_rates(systems: dict, k_max: int) -> dict:
    """AdsorbML metrics of ``systems`` ({key: (candidates, reference)}).

    Returns ``systems`` (count with a reference minimum), ``left_out`` (keys without one), ``success``
    ([rate at k = 1 .. k_max], fractions), ``ml_only`` (fraction) and ``failures`` ([{key: reason} at k = 1
    .. k_max]).
    """
    success, ml_only, failures, left_out, counted = [0] * k_max, 0, [{} for _ in range(k_max)], [], 0
    for key, (candidates, reference) in sorted(systems.items()):
        minimum = reference_minimum(reference)
        if minimum is None:
            left_out.append(key)
            continue
        counted += 1
        for k in range(1, k_max + 1):
            success[k - 1] += succeeds(candidates, minimum["adsorption_energy"], k)
            if reason := failure_reason(candidates, minimum, k):
                failures[k - 1][key] = reason
        ml_only += ml_only_succeeds(candidates, minimum["adsorption_energy"])
    rate = (lambda n: n / counted) if counted else (lambda n: math.nan)
    return {
        "systems": counted,
        "left_out": left_out,
        "success": [rate(n) for n in success],
        "ml_only": rate(ml_only),
        "failures": failures,
    }

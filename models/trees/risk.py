"""TRAQ-style tree risk rating (ISA Tree Risk Assessment Qualification matrices).

Risk = likelihood of failure x likelihood of impact -> combined likelihood, x consequence -> risk.

* **Likelihood of failure** (improbable / possible / probable / imminent) from the LiDAR and the
  vitality model: each factor adds points: vitality VS1 +1, VS2 +2, VS3 or dead +3 (an unknown
  vitality adds nothing but is said: "vitality unknown", never taken as healthy); lean over
  10 degrees +1, over 15 degrees +2 (a *new* lean of 5 degrees or more since the last scan +2);
  crown loss over 20 % since the last scan +1; slenderness (height / DBH in m/m) over 80 +1.
  0 -> improbable, 1 -> possible, 2-3 -> probable, 4+ -> imminent.
* **Likelihood of impact** (very low / low / medium / high) from the targets inside the fall zone
  (1.5 x tree height from the stem): school or playground -> high; primary road or bus stop ->
  high; secondary or tertiary road -> medium; residential street -> low; pedestrian street ->
  medium (people on foot); nothing -> very low. The highest target counts.
* **Consequence** (negligible / minor / significant / severe) from the size of the part likely to
  fail: height under 5 m or DBH under 10 cm -> negligible; height under 10 m -> minor; under 18 m
  (and DBH under 60 cm) -> significant; otherwise severe.

The two matrices are TRAQ's (ISA 2017, tables 1 and 2).
"""

from __future__ import annotations

import numpy as np

FAILURE = ("improbable", "possible", "probable", "imminent")
IMPACT = ("very low", "low", "medium", "high")
CONSEQUENCE = ("negligible", "minor", "significant", "severe")
RATINGS = ("Low", "Moderate", "High", "Extreme")

# TRAQ table 1: likelihood of failure (rows) x likelihood of impact (columns)
COMBINED = {
    "imminent": ("unlikely", "somewhat likely", "likely", "very likely"),
    "probable": ("unlikely", "unlikely", "somewhat likely", "likely"),
    "possible": ("unlikely", "unlikely", "unlikely", "somewhat likely"),
    "improbable": ("unlikely", "unlikely", "unlikely", "unlikely"),
}
# TRAQ table 2: combined likelihood (rows) x consequence (columns)
RISK = {
    "very likely": ("Low", "Moderate", "High", "Extreme"),
    "likely": ("Low", "Moderate", "High", "High"),
    "somewhat likely": ("Low", "Low", "Moderate", "Moderate"),
    "unlikely": ("Low", "Low", "Low", "Low"),
}
VITALITY_UNKNOWN = "vitality unknown (no inspection record, no vitality model): failure likelihood may be understated"
#: points of inspection priority a tree of unknown vitality gets on top of its risk score: what
#: a VS2 call (+2 failure points, 4 score points each) would add, so it is ranked as if declining
UNKNOWN_VITALITY_PRIORITY = 8.0
TARGET_IMPACT = {"school": 3, "playground": 3, "bus_stop": 3, "primary": 3, "secondary": 2, "tertiary": 2,
                 "pedestrian": 2, "residential": 1}


def failure_likelihood(vitality: str | None, lean_deg: float | None, new_lean_deg: float | None,
                       crown_loss_pct: float | None, slenderness: float | None) -> tuple[str, list[str]]:
    pts, why = 0, []
    if vitality is None:
        # not "healthy": nobody knows; the inspection plan ranks these trees for a visit
        why.append(VITALITY_UNKNOWN)
    v = {"VS1": 1, "VS2": 2, "VS3": 3, "dead": 3}.get(vitality or "", 0)
    if v:
        pts += v; why.append(f"vitality {vitality} (+{v})")
    if lean_deg is not None and np.isfinite(lean_deg):
        if lean_deg > 15:
            pts += 2; why.append(f"lean {lean_deg:.0f}° (+2)")
        elif lean_deg > 10:
            pts += 1; why.append(f"lean {lean_deg:.0f}° (+1)")
    if new_lean_deg is not None and np.isfinite(new_lean_deg) and new_lean_deg >= 5:
        pts += 2; why.append(f"new lean +{new_lean_deg:.0f}° since last scan (+2)")
    if crown_loss_pct is not None and np.isfinite(crown_loss_pct) and crown_loss_pct > 20:
        pts += 1; why.append(f"crown loss {crown_loss_pct:.0f} % (+1)")
    if slenderness is not None and np.isfinite(slenderness) and slenderness > 80:
        pts += 1; why.append(f"slenderness H/D {slenderness:.0f} (+1)")
    level = FAILURE[0] if pts == 0 else FAILURE[1] if pts == 1 else FAILURE[2] if pts <= 3 else FAILURE[3]
    return level, why


def impact_likelihood(targets: list[tuple[str, float]]) -> tuple[str, list[str]]:
    """``targets``: (kind or road class, distance m) inside the fall zone."""
    if not targets:
        return IMPACT[0], ["no target in the fall zone"]
    best = max(targets, key=lambda t: (TARGET_IMPACT.get(t[0], 1), -t[1]))
    lvl = TARGET_IMPACT.get(best[0], 1)
    return IMPACT[lvl], [f"{best[0].replace('_', ' ')} at {best[1]:.0f} m"]


def consequence(height_m: float, dbh_cm: float) -> str:
    if height_m < 5 or dbh_cm < 10:
        return CONSEQUENCE[0]
    if height_m < 10:
        return CONSEQUENCE[1]
    if height_m < 18 and dbh_cm < 60:
        return CONSEQUENCE[2]
    return CONSEQUENCE[3]


def rate(failure: str, impact: str, cons: str) -> tuple[str, str]:
    """(combined likelihood, risk rating) from TRAQ's two matrices."""
    combined = COMBINED[failure][IMPACT.index(impact)]
    return combined, RISK[combined][CONSEQUENCE.index(cons)]


def risk_score(rating: str, failure: str, impact: str, cons: str) -> float:
    """A number to rank trees within a rating (0-100): rating first, then its three factors."""
    return (25.0 * RATINGS.index(rating) + 4.0 * FAILURE.index(failure) + 3.0 * IMPACT.index(impact)
            + 1.0 * CONSEQUENCE.index(cons) + 1.0)

"""The city's calendar as the forecaster sees it: public holidays, school holidays (zone B,
académie de Nice), the big Croisette events, market days near a bin, and the season.

The dates are the published ones; the simulator reads the same tables (models/simulator/waste.py),
which is why they are imported from there rather than copied."""

from __future__ import annotations

import math
from datetime import date

from models.simulator.waste import events, public_holidays, school_holiday

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
NO_COLLECTION = {(1, 1), (5, 1), (12, 25)}


def is_public_holiday(d: date) -> bool:
    return d in public_holidays(d.year)


def day_features(d: date) -> dict:
    """Calendar features of one local day."""
    doy = d.timetuple().tm_yday
    return {"dow": d.weekday(), "public_holiday": float(is_public_holiday(d)),
            "school_holiday": float(school_holiday(d)), "event": float(bool(events(d))),
            "season_cos": math.cos(2 * math.pi * (doy - 200) / 365),
            "season_sin": math.sin(2 * math.pi * (doy - 200) / 365)}


def market_days(attributes: str | None) -> set[int]:
    """Python weekdays (Mon=0) of a market from its `attributes` JSON ({"market_days": "Tue,Wed"})."""
    import json

    try:
        txt = json.loads(attributes or "{}").get("market_days", "")
    except (ValueError, AttributeError):
        txt = ""
    return {WEEKDAYS.index(s.strip()) for s in str(txt).split(",") if s.strip() in WEEKDAYS}


def collection_day(d: date) -> bool:
    """Crews work Monday to Saturday except 1 January, 1 May and 25 December."""
    return d.isoweekday() != 7 and (d.month, d.day) not in NO_COLLECTION


def market_matrix(bx, by, markets, days, radius_m: float = 300.0):
    """(bins, days) weight in 0-1 of a market near each bin on each day (1 at the market,
    falling linearly to 0 at `radius_m`); `markets` a frame with x_2154, y_2154, attributes."""
    import numpy as np

    bx, by = np.asarray(bx, float), np.asarray(by, float)
    out = np.zeros((len(bx), len(days)), np.float32)
    for r in markets.iter_rows(named=True):
        w = np.clip(1 - np.hypot(bx - r["x_2154"], by - r["y_2154"]) / radius_m, 0, None)
        on = np.array([d.weekday() in market_days(r["attributes"]) for d in days], np.float32)
        out = np.maximum(out, w[:, None] * on[None, :])
    return out

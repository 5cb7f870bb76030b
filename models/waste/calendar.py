"""The city's calendar as the forecaster sees it: public holidays, school holidays (zone B,
académie de Nice), the big city events, market days near a bin, and the season.

Where each part comes from (docs/waste.md, "Calendar"):

* public holidays: the ``holidays`` package (France, metropolitan; names in French), no data;
* school holidays and city events: the city's reference delivery ``reference/city_calendar.csv``
  (docs/LANDING.md) through bronze and ``silver.city_calendar``: one row per period
  (``kind`` school_holiday | event, ``name``, ``first_day``, ``last_day`` inclusive, ``zone``).
  ``CityCalendar.from_frame`` reads that table; a city that delivered none gets an empty
  calendar (no school holiday, no event: said in the model card by ``describe``).

Nothing here knows the simulator: the simulator writes the same CSV into the landing zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
NO_COLLECTION = {(1, 1), (5, 1), (12, 25)}
KINDS = ("school_holiday", "event")


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> dict:
    import holidays

    return dict(holidays.France(years=year, language="fr"))


def public_holiday(d: date) -> str:
    """The French public holiday's name on `d` ('' when none), from the ``holidays`` package."""
    return _french_holidays(d.year).get(d, "")


def is_public_holiday(d: date) -> bool:
    return bool(public_holiday(d))


@dataclass(frozen=True)
class CityCalendar:
    """School-holiday and event periods of the city (inclusive days), as delivered."""

    school: tuple[tuple[date, date, str], ...] = ()
    events: tuple[tuple[date, date, str], ...] = ()
    _days: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_frame(cls, df) -> "CityCalendar":
        """From ``silver.city_calendar`` (kind, name, first_day, last_day); None or empty: no periods."""
        if df is None or df.is_empty():
            return cls()
        rows = [(r["first_day"], r["last_day"], r["name"] or "") for r in df.iter_rows(named=True)
                if r["first_day"] is not None and r["last_day"] is not None]
        kinds = df["kind"].to_list()
        school = tuple(sorted(r for r, k in zip(rows, kinds) if k == "school_holiday"))
        events = tuple(sorted(r for r, k in zip(rows, kinds) if k == "event"))
        return cls(school, events)

    def _lookup(self, d: date) -> tuple[bool, str]:
        if d not in self._days:
            sh = any(a <= d <= b for a, b, _ in self.school)
            ev = next((n or "event" for a, b, n in self.events if a <= d <= b), "")
            self._days[d] = (sh, ev)
        return self._days[d]

    def school_holiday(self, d: date) -> bool:
        return self._lookup(d)[0]

    def event(self, d: date) -> str:
        return self._lookup(d)[1]

    def span(self) -> tuple[date, date] | None:
        allp = self.school + self.events
        return (min(p[0] for p in allp), max(p[1] for p in allp)) if allp else None

    def describe(self) -> str:
        sp = self.span()
        if sp is None:
            return "no city calendar delivered (reference/city_calendar.csv): every day counts as no school holiday and no event"
        return (f"silver.city_calendar: {len(self.school)} school-holiday periods and {len(self.events)} events "
                f"from {sp[0]} to {sp[1]}; public holidays from the holidays package")

    def day_features(self, d: date) -> dict:
        """Calendar features of one local day."""
        doy = d.timetuple().tm_yday
        return {"dow": d.weekday(), "public_holiday": float(is_public_holiday(d)),
                "school_holiday": float(self.school_holiday(d)), "event": float(bool(self.event(d))),
                "season_cos": math.cos(2 * math.pi * (doy - 200) / 365),
                "season_sin": math.sin(2 * math.pi * (doy - 200) / 365)}


EMPTY = CityCalendar()


def day_features(d: date, calendar: CityCalendar | None = None) -> dict:
    """Calendar features of one local day (`calendar`: the city's; none: public holidays only)."""
    return (calendar or EMPTY).day_features(d)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(i) for i in range((last - first).days + 1)]


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

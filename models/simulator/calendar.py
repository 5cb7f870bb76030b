"""The simulated city's calendar: public holidays, school holidays of zone B (académie de Nice)
and the big Croisette events, as the simulated world follows them, and the writer of
``reference/city_calendar.csv`` (docs/LANDING.md), the data the platform's forecaster reads.

The holiday periods are the published ones (Ministry of Education, zone B); outside the table an
approximation of the usual calendar. Event dates follow each event's usual pattern.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from .common import atomic_write_text
from .reference import _csv

# School holidays, zone B (académie de Nice): (first day off, day classes resume).
SCHOOL_HOLIDAYS_B = [
    ("2022-10-22", "2022-11-07"), ("2022-12-17", "2023-01-03"), ("2023-02-11", "2023-02-27"),
    ("2023-04-15", "2023-05-02"), ("2023-07-08", "2023-09-04"), ("2023-10-21", "2023-11-06"),
    ("2023-12-23", "2024-01-08"), ("2024-02-24", "2024-03-11"), ("2024-04-20", "2024-05-06"),
    ("2024-07-06", "2024-09-02"), ("2024-10-19", "2024-11-04"), ("2024-12-21", "2025-01-06"),
    ("2025-02-08", "2025-02-24"), ("2025-04-05", "2025-04-22"), ("2025-07-05", "2025-09-01"),
    ("2025-10-18", "2025-11-03"), ("2025-12-20", "2026-01-05"), ("2026-02-14", "2026-03-02"),
    ("2026-04-11", "2026-04-27"), ("2026-07-04", "2026-09-01"), ("2026-10-17", "2026-11-02"),
    ("2026-12-19", "2027-01-04"),
]
_SCHOOL = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in SCHOOL_HOLIDAYS_B]


# --------------------------------------------------------------------------------- calendar

def _easter(y: int) -> date:
    a, b, c = y % 19, y // 100, y % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(y, month, day)


def public_holidays(y: int) -> dict[date, str]:
    e = _easter(y)
    return {date(y, 1, 1): "Jour de l'an", e + timedelta(1): "Lundi de Pâques",
            date(y, 5, 1): "Fête du Travail", date(y, 5, 8): "Victoire 1945",
            e + timedelta(39): "Ascension", e + timedelta(50): "Lundi de Pentecôte",
            date(y, 7, 14): "Fête nationale", date(y, 8, 15): "Assomption",
            date(y, 11, 1): "Toussaint", date(y, 11, 11): "Armistice",
            date(y, 12, 25): "Noël"}


def school_holiday(d: date) -> bool:
    if _SCHOOL[0][0] <= d < _SCHOOL[-1][1]:
        return any(a <= d < b for a, b in _SCHOOL)
    # outside the table: an approximation of the usual calendar
    return (d.month in (7, 8) or (d.month == 12 and d.day >= 20) or (d.month == 1 and d.day <= 3)
            or (d.month == 10 and d.day >= 18) or (d.month == 11 and d.day <= 2))


def _nth_weekday_from(y: int, month: int, first_day: int, weekday: int) -> date:
    d = date(y, month, first_day)
    return d + timedelta((weekday - d.weekday()) % 7)


def events(d: date) -> str:
    """The big Croisette events (dates approximated on the usual pattern)."""
    fest = _nth_weekday_from(d.year, 5, 12, 1)       # Tuesday, 12-18 May, 12 days
    yacht = _nth_weekday_from(d.year, 9, 8, 1)       # Tuesday, 8-14 September, 6 days
    mip = _nth_weekday_from(d.year, 10, 12, 0)       # Monday, 12-18 October, 4 days
    for start, n, name in ((fest, 12, "Festival de Cannes"), (yacht, 6, "Cannes Yachting Festival"),
                           (mip, 4, "MIPCOM")):
        if start <= d < start + timedelta(n):
            return name
    return ""


SCHOOL_HOLIDAY_NAMES = {10: "Vacances de la Toussaint", 11: "Vacances de la Toussaint", 12: "Vacances de Noël",
                        1: "Vacances de Noël", 2: "Vacances d'Hiver", 3: "Vacances d'Hiver",
                        4: "Vacances de Printemps", 5: "Vacances de Printemps", 6: "Vacances d'Été",
                        7: "Vacances d'Été", 8: "Vacances d'Été"}
CALENDAR_COLUMNS = ["kind", "name", "first_day", "last_day", "zone"]


def city_calendar_rows(first: date, last: date) -> list[dict]:
    """The city's school-holiday (zone B) and event periods between `first` and `last` as the
    rows of ``reference/city_calendar.csv`` (inclusive days): exactly the days on which the
    simulated world applies its holiday and event factors."""
    rows: list[dict] = []
    for kind, flag in (("school_holiday", lambda d: "x" if school_holiday(d) else ""), ("event", events)):
        start, cur = None, ""
        d = first
        while d <= last + timedelta(1):
            v = flag(d) if d <= last else ""
            if v != cur:
                if cur:
                    name = SCHOOL_HOLIDAY_NAMES.get(start.month, "Vacances scolaires") if kind == "school_holiday" else cur
                    rows.append({"kind": kind, "name": name, "first_day": start.isoformat(),
                                 "last_day": (d - timedelta(1)).isoformat(),
                                 "zone": "B" if kind == "school_holiday" else "Cannes"})
                start, cur = d, v
            d += timedelta(1)
    return rows


def write_city_calendar(days: list[date], landing: Path) -> int:
    """``reference/city_calendar.csv`` from 1 January of the first simulated year to 31 December
    of the year after the last (the forecaster looks one day ahead)."""
    rows = city_calendar_rows(date(days[0].year, 1, 1), date(days[-1].year + 1, 12, 31))
    atomic_write_text(Path(landing) / "reference" / "city_calendar.csv", _csv(rows, CALENDAR_COLUMNS))
    return len(rows)

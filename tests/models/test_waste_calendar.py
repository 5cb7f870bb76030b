"""The forecaster's calendar comes from data: public holidays from the `holidays` package, school
holidays and events from the delivered reference CSV (parsed, bad rows quarantined), and what
the simulator delivers is exactly the calendar its world follows."""

from datetime import date, timedelta

import polars as pl

from models.waste import calendar as WC
from transforms import reference as TR
from transforms.parsing import parse_city_calendar

CSV = b"""kind,name,first_day,last_day,zone
school_holiday,Vacances d'Hiver,2026-02-14,2026-03-01,B
event,Festival de Cannes,2026-05-12,2026-05-23,Cannes
event,MIPIM,2026-03-10,2026-03-13,Cannes
event,Backwards,2026-06-10,2026-06-01,Cannes
holiday,Unknown kind,2026-06-10,2026-06-11,
event,Bad date,2026-13-01,2026-06-11,
"""


def test_parser_quarantines_bad_periods_and_silver_reads_them():
    p = parse_city_calendar(CSV, "city_calendar.csv")
    assert p.good.height == 3
    reasons = dict(zip(p.bad["_row_number"].to_list(), p.bad["reason"].to_list()))
    assert set(reasons) == {5, 6, 7}
    assert "before first_day" in reasons[5] and "kind" in reasons[6] and "first_day" in reasons[7]
    silver = TR.city_calendar(p.good)
    assert silver.columns == list(TR.CITY_CALENDAR) and silver["n_days"].to_list() == [4, 12, 16]
    cal = WC.CityCalendar.from_frame(silver)
    assert cal.school_holiday(date(2026, 3, 1)) and not cal.school_holiday(date(2026, 3, 2))
    assert cal.event(date(2026, 3, 12)) == "MIPIM" and cal.event(date(2026, 5, 24)) == ""
    f = cal.day_features(date(2026, 5, 14))          # Ascension 2026, during the Festival
    assert f["public_holiday"] == 1.0 and f["event"] == 1.0 and f["school_holiday"] == 0.0
    assert "2 events" in cal.describe()


def test_public_holidays_from_the_holidays_package():
    assert WC.public_holiday(date(2026, 5, 25)) == "Lundi de Pentecôte"
    assert WC.public_holiday(date(2025, 4, 21)) == "Lundi de Pâques"
    assert not WC.is_public_holiday(date(2026, 5, 26))
    empty = WC.CityCalendar.from_frame(pl.DataFrame(schema=TR.CITY_CALENDAR))
    assert empty.span() is None and "no city calendar" in empty.describe()
    assert empty.day_features(date(2026, 7, 14))["public_holiday"] == 1.0
    assert empty.day_features(date(2026, 7, 15))["school_holiday"] == 0.0


def test_simulated_calendar_delivery_matches_the_simulated_world():
    from models.simulator.waste import public_holidays, school_holiday, events
    from models.simulator.waste_month import month_calendar

    days = [date(2025, 9, 1) + timedelta(i) for i in range(500)]
    cal = month_calendar(days)
    for d in days:
        assert cal.school_holiday(d) == school_holiday(d), d
        assert cal.event(d) == events(d), d
        assert WC.is_public_holiday(d) == (d in public_holidays(d.year)), d


def test_no_calendar_delivered_is_an_empty_silver_table_that_passes_its_check(tmp_path):
    import dagster as dg

    from assets.lake import Lake, LakeResource
    from assets.reference import city_calendar
    from quality.checks import silver_check

    res = dg.materialize([city_calendar, silver_check("city_calendar")], raise_on_error=False,
                         resources={"lake": LakeResource(lake_uri=str(tmp_path / "lake"),
                                                         landing_uri=str(tmp_path / "landing"))})
    checks = [e.event_specific_data for e in res.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert res.success and checks and all(c.passed for c in checks)
    cal = Lake(str(tmp_path / "lake")).read("silver", "city_calendar")
    assert cal.is_empty() and cal.schema == pl.Schema(TR.CITY_CALENDAR)

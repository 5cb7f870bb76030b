"""Response-time KPIs against values computed by hand on a planted set."""

from datetime import date, datetime, timezone

import polars as pl

from transforms import citizens_marts as M


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=timezone.utc)


def test_kpis_match_hand_computed_values():
    # week of Monday 5 Oct 2026 (Europe/Paris): voirie, Carnot; three requests on two segments
    #   R1 requested Tue 6 Oct 08:00, acknowledged +4 h, resolved +100 h  (target 240 h: within)
    #   R2 requested Wed 7 Oct 10:00, acknowledged +10 h, resolved +312 h (beyond the target)
    #   R3 requested Thu 8 Oct 12:00 on R1's segment (a repeat), acknowledged +20 h, not resolved
    # week of 12 Oct: voirie, Carnot: one request R4 (acknowledged +2 h, resolved +24 h)
    # week of 5 Oct: proprete, Carnot: R5 acknowledged +30 h, resolved +50 h (target 48 h: beyond)
    # R6 (Sunday 11 Oct 23:30 UTC = Monday 12 Oct 01:30 Paris) counts in the week of 12 Oct
    reqs = pl.DataFrame({
        "service_request_id": ["R1", "R2", "R3", "R4", "R5", "R6"],
        "requested_at": [t(6, 8), t(7, 10), t(8, 12), t(13, 9), t(6, 6), datetime(2026, 10, 11, 23, 30, tzinfo=timezone.utc)],
        "acknowledged_at": [t(6, 12), t(7, 20), t(9, 8), t(13, 11), t(7, 12), None],
        "resolved_at": [t(10, 12), datetime(2026, 10, 20, 10, tzinfo=timezone.utc), None, t(14, 9), t(8, 8), None]})
    routing = pl.DataFrame({
        "service_request_id": ["R1", "R2", "R3", "R4", "R5", "R6"],
        "service": ["voirie", "voirie", "voirie", "voirie", "proprete", "voirie"],
        "commune": ["Cannes"] * 6, "quartier": ["Carnot"] * 6,
        "item_kind": ["segment", "segment", "segment", "segment", "bin", "segment"],
        "item_id": ["S1", "S2", "S1", "S3", "B1", None]})
    k = M.response_kpis(reqs, routing)
    rows = {(r["week_start"], r["service"]): r for r in k.iter_rows(named=True)}
    assert set(rows) == {(date(2026, 10, 5), "voirie"), (date(2026, 10, 12), "voirie"), (date(2026, 10, 5), "proprete")}
    v = rows[(date(2026, 10, 5), "voirie")]
    assert (v["requests"], v["acknowledged"], v["resolved"]) == (3, 3, 2)
    assert v["median_hours_to_acknowledge"] == 10.0            # median of 4, 10, 20
    assert v["median_hours_to_resolve"] == 206.0               # median of 100, 312
    assert v["resolved_within_target"] == 1 and v["share_resolved_within_target"] == round(1 / 3, 4)
    assert v["repeat_reports"] == 1 and v["requests_previous_week"] == 0 and v["requests_change"] == 3
    w = rows[(date(2026, 10, 12), "voirie")]
    assert (w["requests"], w["acknowledged"], w["resolved"]) == (2, 1, 1)   # R4 and R6 (Paris Monday)
    assert w["median_hours_to_acknowledge"] == 2.0 and w["median_hours_to_resolve"] == 24.0
    assert w["share_resolved_within_target"] == 0.5 and w["repeat_reports"] == 0
    assert w["requests_previous_week"] == 3 and w["requests_change"] == -1
    p = rows[(date(2026, 10, 5), "proprete")]
    assert p["median_hours_to_acknowledge"] == 30.0 and p["median_hours_to_resolve"] == 50.0
    assert p["resolved_within_target"] == 0 and p["share_resolved_within_target"] == 0.0
    assert p["target_hours_to_resolve"] == 48.0


def test_requests_track_acknowledgement_and_resolution():
    from transforms import citizens as T

    base = {"service_request_id": "R1", "service_code": "litter", "service_name": "x", "description": None,
            "lat": 43.55, "lon": 7.0, "address": None, "media_url": None, "redactions": 0,
            "requested_datetime": t(6, 8)}
    rows = [{**base, "updated_datetime": t(6, 8), "status": "open", "status_notes": None, "content_hash": "a",
             "_ingested_at": t(6, 8)},
            {**base, "updated_datetime": t(6, 11), "status": "open", "status_notes": "Pris en charge", "content_hash": "b",
             "_ingested_at": t(6, 11)},
            {**base, "updated_datetime": t(7, 9), "status": "closed", "status_notes": "Fait", "content_hash": "c",
             "_ingested_at": t(7, 9)},
            {**base, "updated_datetime": t(7, 9), "status": "closed", "status_notes": "Fait", "content_hash": "c",
             "_ingested_at": t(7, 10)}]                      # the same version again (file + NATS)
    r = T.requests(pl.DataFrame(rows)).row(0, named=True)
    assert r["acknowledged_at"] == t(6, 11) and r["resolved_at"] == t(7, 9) and r["versions"] == 3
    assert r["status"] == "closed" and r["service"] == "proprete"

"""The citizens assets materialised with Dagster on a tiny simulated city: bad requests
quarantined with reasons at bronze, photos anonymised before storage (a missing one quarantined),
the agent queue and the KPI mart written, their blocking checks passing."""

import json
import shutil

import dagster as dg
import polars as pl
import pytest

from tests.citizens.conftest import build_reference, ingest


@pytest.fixture(scope="module")
def materialised(tiny_city, tmp_path_factory):
    from assets import citizens as C
    from assets.lake import Lake, LakeResource

    root = tmp_path_factory.mktemp("citizens_assets")
    landing = root / "landing"
    shutil.copytree(tiny_city["landing"], landing)
    bad = [{"service_request_id": "BAD-1", "service_code": "noise", "lat": 43.55, "long": 7.0, "status": "open",
            "requested_datetime": "2026-10-20T08:00:00Z"},
           {"service_request_id": "BAD-2", "service_code": "litter", "lat": 43.55, "long": 7.0, "status": "open",
            "requested_datetime": "2026-10-20T08:00:00"},
           {"service_request_id": "MISSING-PHOTO", "service_code": "litter", "lat": 43.55, "long": 7.0,
            "status": "open", "requested_datetime": "2026-10-20T08:00:00Z",
            "media_url": "https://signalements.cannes.fr/media/absent.jpg",
            "description": "Appelez Jean Martin au 06 12 34 56 78"}]
    (landing / "citizens" / "requests" / "requests_extra.json").write_text(json.dumps(bad))
    lake = Lake(str(root / "lake"))
    build_reference(lake, landing, tiny_city["city"])
    reps = ingest(lake, landing, "citizen_requests")
    res = dg.materialize([*C.ASSETS[:5], *C.CHECKS[:5]], resources={"lake": LakeResource(
        lake_uri=str(root / "lake"), landing_uri=str(landing))}, selection=[a.key for a in C.ASSETS[:5]])
    return lake, reps, res, tiny_city


def test_bad_requests_quarantined_with_reasons(materialised):
    from assets.lake import QUARANTINE_SCHEMA

    lake, reps, _, _ = materialised
    extra = next(r for r in reps if r.delivery == "requests_extra.json")
    assert extra.status == "partial" or extra.bad_rows == 2
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA)
    reasons = " | ".join(q["reason"].to_list())
    assert "request BAD-1: service_code 'noise' unknown" in reasons
    assert "request BAD-2: requested_datetime" in reasons and "no time zone" in reasons
    assert lake.read("bronze", "citizen_requests").filter(pl.col("service_request_id").str.starts_with("BAD")).is_empty()


def test_photos_anonymised_before_storage(materialised):
    from assets.lake import QUARANTINE_SCHEMA

    lake, _, res, city = materialised
    assert res.success
    media = lake.read("silver", "citizen_media")
    planted = city["truth_rows"].filter(pl.col("has_media"))["service_request_id"].to_list()
    assert sorted(media["service_request_id"].to_list()) == sorted(planted)
    src = {p.stem: p.read_bytes() for p in (city["landing"] / "citizens" / "media").glob("*.jpg")}
    for r in media.iter_rows(named=True):
        assert r["jpeg"][:2] == b"\xff\xd8" and r["jpeg"] != src[r["service_request_id"]]
        assert r["anonymiser_version"].startswith("mtcnn-platenet-")
    q = lake.read_or_empty("", "quarantine", QUARANTINE_SCHEMA).filter(pl.col("source") == "citizen_media")
    assert q["item"].to_list() == ["MISSING-PHOTO"] and "absent.jpg not in the landing zone" in q["reason"][0]


def test_marts_written_and_checks_pass(materialised):
    lake, _, res, city = materialised
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in res.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    queue = lake.read("gold", "citizen_agent_queue")
    unmatched = city["truth_rows"].filter(pl.col("item_aimed_at") == "")["service_request_id"].to_list()
    assert set(unmatched) <= set(queue["service_request_id"].to_list())
    assert queue["reason"].str.contains("queued for an agent").all()
    assert not queue["description"].drop_nulls().str.contains("06 12 34 56 78").any()
    k = lake.read("gold", "citizen_response_kpis")
    assert k["requests"].sum() == lake.read("silver", "citizen_requests").height
    assert set(k["service"].unique().to_list()) == {"voirie", "proprete", "espaces_verts"}

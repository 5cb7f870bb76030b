"""Requests shaped as the GeoReport v2 spec's GET requests.json response (wiki.open311.org/GeoReport_v2):
its extra fields ignored, integer ids, W3C date-times with an offset; the spec's own San Francisco
example refused for its position and code; free text redacted."""

import json
from datetime import datetime, timezone

from models.citizens.open311 import decode_requests, parse_requests

SPEC_EXAMPLE = {"service_request_id": 638344, "status": "closed", "status_notes": "Duplicate request.",
                "service_name": "Sidewalk and Curb Issues", "service_code": "006", "description": None,
                "agency_responsible": None, "service_notice": None,
                "requested_datetime": "2010-04-14T06:37:38-08:00", "updated_datetime": "2010-04-14T06:37:38-08:00",
                "expected_datetime": "2010-04-15T06:37:38-08:00", "address": "8TH AVE and JUDAH ST",
                "address_id": 545483, "zipcode": 94122, "lat": 37.762221815483965, "long": -122.4651145488454,
                "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg"}


def test_spec_shaped_requests():
    cannes = {**SPEC_EXAMPLE, "service_request_id": 700001, "service_code": "pavement", "status": "open",
              "status_notes": None, "description": "Trottoir soulevé. Joindre Mme Claire Dupont, claire.dupont@example.fr",
              "requested_datetime": "2026-10-14T09:30:00+02:00", "updated_datetime": "2026-10-14T09:30:00+02:00",
              "address": "Boulevard Carnot, Cannes", "zipcode": "06400", "lat": 43.5586, "long": 7.0127}
    good, bad = parse_requests(decode_requests(json.dumps([SPEC_EXAMPLE, cannes]).encode(), "requests.json"))
    assert good.height == 1 and len(bad) == 1
    r = good.row(0, named=True)
    assert r["service_request_id"] == "700001" and r["service_code"] == "pavement"
    assert r["requested_datetime"] == datetime(2026, 10, 14, 7, 30, tzinfo=timezone.utc)
    assert "Dupont" not in r["description"] and "example.fr" not in r["description"] and r["redactions"] == 2
    assert r["address"] == "Boulevard Carnot, Cannes"
    assert "request 638344: service_code '006' unknown" in bad[0]["reason"]


def test_a_single_request_object_and_the_service_requests_wrapper():
    one = {**SPEC_EXAMPLE, "service_code": "litter", "lat": 43.55, "long": 7.01}
    assert len(decode_requests(json.dumps(one).encode(), "x")) == 1
    assert len(decode_requests(json.dumps({"service_requests": [one, one]}).encode(), "x")) == 2
    good, bad = parse_requests([{**one, "lat": 37.76}])
    assert good.height == 0 and "lat: 37.76 outside the agglomeration" in bad[0]["reason"]

import io
import json

import numpy as np
import polars as pl
import pytest
from PIL import Image

from transforms import parsing as P
from transforms.validation import Col, validate_records

LOG_HEADER = "truck_id,round_id,bin_id,collected_at,net_weight_kg,fill_level_at_pickup,contamination\n"


def test_validate_records_keeps_good_rows_and_explains_bad_ones():
    raw = pl.DataFrame({"a": ["1", "x", "", "5"], "b": ["ok", "ok", "zz", "ok"]})
    v = validate_records(raw, [Col("a", pl.Float64, min=0, max=4), Col("b", allowed=("ok",))], row_offset=2)
    assert v.good["a"].to_list() == [1.0]
    assert v.good["_row_number"].to_list() == [2]
    reasons = dict(zip(v.bad["_row_number"].to_list(), v.bad["reason"].to_list()))
    assert reasons[3] == "a: 'x' is not a valid Float64"
    assert reasons[4] == "a: missing (required); b: 'zz' is not one of ok"
    assert reasons[5] == "a: 5 is above the maximum 4"
    assert v.good.height + v.bad.height == raw.height


def test_collection_log_csv_bad_rows_are_set_aside_with_reasons():
    body = (LOG_HEADER
            + "BOM-01,R1,BIN-00001,2026-10-12T06:41:00+02:00,18.5,0.4,0\n"
            + "BOM-01,R1,BIN-00002,31/10/2026 25h61,20,0.4,0\n"
            + "BOM-01,R1,BIN-00003,2026-10-12T06:45:00+02:00,-12,0.4,1\n"
            + "BOM-01,R1,BIN-00004,2026-10-12T06:47:00+02:00,20\n"
            + "BOM-02,R2,BIN-00005,2026-10-12T06:49:00Z,7.25,1.0,true\n")
    p = P.read_csv_rows(body.encode(), "collecte.csv", P.SPECS["collection_logs"])
    assert p.good["bin_id"].to_list() == ["BIN-00001", "BIN-00005"]
    assert p.good["collected_at"].dt.hour().to_list() == [4, 6]  # stored in UTC
    assert p.good["contamination"].to_list() == [False, True]
    bad = dict(zip(p.bad["_row_number"].to_list(), p.bad["reason"].to_list()))
    assert set(bad) == {3, 4, 5}
    assert "collected_at" in bad[3] and "not a valid" in bad[3]
    assert "below the minimum 0" in bad[4]
    assert bad[5] == "expected 7 fields, found 5"


def test_csv_missing_required_column_rejects_the_file():
    with pytest.raises(P.BadDelivery, match="missing column"):
        P.read_csv_rows(b"truck_id,bin_id\nA,B\n", "x.csv", P.SPECS["collection_logs"])


def test_bin_readings_jsonl_flattens_fiware_and_rejects_bad_lines():
    good = {"message_id": "m1", "id": "urn:ngsi-ld:WasteContainer:BIN-00001", "type": "WasteContainer",
            "dateObserved": "2026-10-12T04:00:00Z", "fillingLevel": 0.42, "binCapacity": 660,
            "storedWasteKind": "emballages", "status": "ok", "temperature": 18.2, "cargoWeight": 12.0}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "message_id": "m2", "id": "bin-7"}),
             json.dumps({**good, "message_id": "m3", "fillingLevel": 1.7})]
    p = P.parse_bin_readings("\n".join(lines).encode(), "capteurs.jsonl")
    assert p.good["bin_id"].to_list() == ["BIN-00001"]
    assert p.good["filling_level"].to_list() == [0.42]
    assert p.bad.height == 3
    assert any("invalid JSON" in r for r in p.bad["reason"])
    assert any("above the maximum 1" in r for r in p.bad["reason"])


def _jpeg_with_gps(lat=43.5513, lon=7.0174, heading=92.5, gps=True) -> bytes:
    img = Image.fromarray((np.random.default_rng(0).random((36, 64, 3)) * 255).astype("uint8"))
    exif = Image.Exif()
    exif[271] = "TestCam"
    if gps:
        def dms(v):
            d = int(v); m = int((v - d) * 60); s = (v - d - m / 60) * 3600
            return (d, m, round(s, 4))
        exif.get_ifd(0x8825).update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon), 16: "T", 17: heading})
    exif.get_ifd(0x8769).update({36867: "2026:10:12 08:30:00", 36881: "+02:00"})
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_survey_frame_exif_is_read():
    rec = P.parse_survey_frame(_jpeg_with_gps(), "f.jpg")
    assert rec["lat"] == pytest.approx(43.5513, abs=1e-6)
    assert rec["lon"] == pytest.approx(7.0174, abs=1e-6)
    assert rec["heading_deg"] == pytest.approx(92.5)
    assert rec["captured_at"].isoformat() == "2026-10-12T06:30:00+00:00"
    assert (rec["width"], rec["height"]) == (64, 36)


def test_corrupt_jpeg_and_missing_gps_are_bad_deliveries():
    data = _jpeg_with_gps()
    with pytest.raises(P.BadDelivery, match="cannot decode image"):
        P.parse_survey_frame(data[: len(data) // 3], "half.jpg")
    with pytest.raises(P.BadDelivery, match="no GPS"):
        P.parse_survey_frame(_jpeg_with_gps(gps=False), "nogps.jpg")


def _laz_bytes(n=2000, epsg=2154, x0=1024000.0, y0=6280000.0) -> bytes:
    import laspy
    import pyproj

    rng = np.random.default_rng(1)
    h = laspy.LasHeader(point_format=6, version="1.4")
    h.scales = [0.01, 0.01, 0.01]
    h.offsets = [x0, y0, 0]
    h.add_crs(pyproj.CRS.from_epsg(epsg))
    las = laspy.LasData(h)
    las.x = x0 + rng.random(n) * 100
    las.y = y0 + rng.random(n) * 100
    las.z = rng.random(n) * 20
    las.classification = np.where(las.z < 1, 2, 5).astype(np.uint8)
    buf = io.BytesIO()
    las.write(buf, do_compress=True)
    return buf.getvalue()


def test_laz_tile_header_and_truncation():
    data = _laz_bytes()
    info = P.parse_laz_tile(data, "t.laz")
    assert info["point_count"] == 2000 and info["crs_epsg"] == 2154
    assert info["ground_points"] + info["vegetation_points"] == 2000
    with pytest.raises(P.BadDelivery, match="unreadable LAS/LAZ"):
        P.parse_laz_tile(data[: int(len(data) * 0.6)], "cut.laz")


def test_tile_in_another_declared_crs_is_reprojected_and_a_mis_projected_one_rejected():
    # UTM 32N declared: accepted, bounds in Lambert-93 (the territory is checked in silver)
    info = P.parse_laz_tile(_laz_bytes(epsg=32632, x0=350000, y0=4820000), "utm.laz")
    assert info["crs_epsg"] == 32632
    assert 1_000_000 < info["min_x"] < info["max_x"] < 1_050_000 and 6_260_000 < info["min_y"] < 6_300_000
    assert 95 < info["max_x"] - info["min_x"] < 110   # a 100 m tile stays about 100 m wide
    # WGS84 degrees written under a Lambert-93 header: outside EPSG:2154's area of use
    with pytest.raises(P.BadDelivery, match="outside the area of use of the declared EPSG:2154.*mis-projected"):
        P.parse_laz_tile(_laz_bytes(epsg=2154, x0=7.0, y0=43.5), "degrees.laz")


def test_dsp_report_three_formats_give_the_same_rows():
    import openpyxl

    rows = [{"section": "pnl", "code": "TOTAL_REVENUE", "label": "CA", "unit": "EUR", "value": 100.0,
             "previous_value": 90.0, "target": None, "comment": None}]
    csv_body = "section,code,label,unit,value,previous_value,target,comment\npnl,TOTAL_REVENUE,CA,EUR,100,90,,\n"
    js = json.dumps({"contract_id": "DSP-X", "year": 2025, "sections": {"pnl": [
        {k: v for k, v in rows[0].items() if k != "section"}]}})
    wb = openpyxl.Workbook()
    wb.active.title = "contrat"
    ws = wb.create_sheet("pnl")
    ws.append(["code", "label", "unit", "value", "previous_value", "target", "comment"])
    ws.append(["TOTAL_REVENUE", "CA", "EUR", 100, 90, None, None])
    buf = io.BytesIO(); wb.save(buf)
    outs = [P.parse_dsp_report(csv_body.encode(), "DSP-X_2025.csv"), P.parse_dsp_report(js.encode(), "DSP-X_2025.json"),
            P.parse_dsp_report(buf.getvalue(), "DSP-X_2025.xlsx")]
    for p in outs:
        assert p.bad.is_empty()
        r = p.good.row(0, named=True)
        assert (r["contract_id"], r["year"], r["section"], r["code"], r["value"], r["previous_value"]) == \
            ("DSP-X", 2025, "pnl", "TOTAL_REVENUE", 100.0, 90.0)


def test_xlsx_missing_sheet_is_a_bad_delivery():
    import openpyxl

    wb = openpyxl.Workbook(); wb.active.title = "contrat"
    buf = io.BytesIO(); wb.save(buf)
    with pytest.raises(P.BadDelivery, match="missing sheet 'pnl'"):
        P.parse_dsp_report(buf.getvalue(), "DSP-X_2025.xlsx")


def test_unreadable_pdf_is_a_bad_delivery():
    with pytest.raises(P.BadDelivery, match="unreadable PDF"):
        P.parse_document(b"%PDF-1.4 garbage", "x.pdf")
    assert P.parse_document("Objet : test\nBonjour".encode(), "a.txt")["title"] == "Objet : test"


def test_undecodable_frame_reason_is_stable():
    """The same bad bytes give the same reason twice (no object address in it), so a retried
    delivery finds its first quarantine row instead of adding another."""
    from transforms.parsing import BadDelivery, parse_survey_frame

    reasons = []
    for _ in range(2):
        with pytest.raises(BadDelivery) as err:
            parse_survey_frame(b"not an image" * 8, "frame_000001.jpg")
        reasons.append(str(err.value))
    assert reasons[0] == reasons[1] and "0x" not in reasons[0]

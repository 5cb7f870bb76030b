"""The waste and administration parts of the city simulator, on the tiny profile."""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models.simulator.admin import SECTIONS, simulate_admin
from models.simulator.city import build_city
from models.simulator.waste import LITTER_CATEGORIES, simulate_waste

PARIS = ZoneInfo("Europe/Paris")
LOG_HEADER = ["truck_id", "round_id", "bin_id", "collected_at", "net_weight_kg", "fill_level_at_pickup",
              "contamination"]
ROUNDS_HEADER = ["round_id", "truck_id", "weekday", "bin_id", "sequence"]
REPORT_HEADER = ["section", "code", "label", "unit", "value", "previous_value", "target", "comment"]
CONTRACT_HEADER = ["contract_id", "name", "service", "delegate", "contract_type", "start_date", "end_date",
                   "overhead_cap_pct", "annual_fee_eur", "penalty_eur_per_step", "penalty_step_pct",
                   "penalty_cap_eur", "commune"]
SENSOR_KEYS = ["message_id", "id", "type", "dateObserved", "fillingLevel", "binCapacity", "storedWasteKind",
               "status", "temperature", "cargoWeight"]
LITTER_SCHEMA = pa.schema([("detection_id", pa.string()), ("detected_at", pa.timestamp("us", tz="UTC")),
                           ("vehicle_id", pa.string()), ("category", pa.string()), ("count", pa.int32()),
                           ("lat", pa.float64()), ("lon", pa.float64()), ("confidence", pa.float32())])


def _run(root: Path):
    city = build_city("tiny", 42)
    w = simulate_waste(city, root / "landing", root / "truth")
    a = simulate_admin(city, root / "landing", root / "truth")
    return city, w, a


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    city, w, a = _run(root)
    return city, root / "landing", root / "truth", w, a


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def _days(city) -> list[date]:
    p = city.profile
    return [p.end_date - timedelta(p.n_days - 1 - i) for i in range(p.n_days)]


# ------------------------------------------------------------------------------------ waste

def test_fixed_rounds(sim):
    city, landing, _, w, _ = sim
    header, rows = _read_csv(landing / "reference" / "fixed_rounds.csv")
    assert header == ROUNDS_HEADER
    trucks = {t["truck_id"] for t in city.trucks}
    bins = {b.bin_id: b for b in city.bins}
    per_round = defaultdict(list)
    visits = Counter()
    for r in rows:
        assert r["truck_id"] in trucks and r["bin_id"] in bins
        assert 1 <= int(r["weekday"]) <= 6
        assert r["round_id"] == f"R-{r['truck_id']}-{r['weekday']}"
        per_round[r["round_id"]].append(int(r["sequence"]))
        visits[r["bin_id"]] += 1
    for seqs in per_round.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    assert set(visits) == set(bins)  # every bin is on a round
    for bid, n in visits.items():
        assert n in ((2, 3) if bins[bid].waste_stream == "ordures_menageres" else (1,))
    assert w["round_stops"] == len(rows)


def test_collection_logs(sim):
    city, landing, truth, w, _ = sim
    bins = {b.bin_id: b for b in city.bins}
    trucks = {t["truck_id"] for t in city.trucks}
    _, rounds = _read_csv(landing / "reference" / "fixed_rounds.csv")
    on_round = {(r["round_id"], r["bin_id"]) for r in rounds}
    n = 0
    for d in _days(city):
        header, rows = _read_csv(landing / "waste" / "collection_logs" / f"collecte_{d.isoformat()}.csv")
        assert header == LOG_HEADER
        for r in rows:
            n += 1
            assert r["bin_id"] in bins and r["truck_id"] in trucks
            assert (r["round_id"], r["bin_id"]) in on_round
            assert r["round_id"].endswith(f"-{d.isoweekday()}")
            t = datetime.fromisoformat(r["collected_at"])
            assert t.utcoffset() == t.astimezone(PARIS).utcoffset()
            assert t.astimezone(PARIS).date() == d and 4 <= t.astimezone(PARIS).hour < 14
            fill = float(r["fill_level_at_pickup"])
            assert 0.0 <= fill <= 1.0 and re.fullmatch(r"\d\.\d\d", r["fill_level_at_pickup"])
            assert float(r["net_weight_kg"]) >= 0
            assert r["contamination"] in ("0", "1")
    assert n == w["collections"] > 0


def test_sensor_readings(sim):
    city, landing, _, w, _ = sim
    bins = {b.bin_id: b for b in city.bins}
    ids, sensors, n = set(), set(), 0
    for d in _days(city):
        lines = (landing / "waste" / "bin_sensors" / f"capteurs_{d.isoformat()}.jsonl").read_text().splitlines()
        for line in lines:
            o = json.loads(line)
            n += 1
            assert list(o) == SENSOR_KEYS
            uuid.UUID(o["message_id"])
            ids.add(o["message_id"])
            assert o["type"] == "WasteContainer"
            bid = o["id"].removeprefix("urn:ngsi-ld:WasteContainer:")
            assert bid in bins
            sensors.add(bid)
            assert o["binCapacity"] == bins[bid].capacity_l and o["storedWasteKind"] == bins[bid].waste_stream
            assert 0.0 <= o["fillingLevel"] <= 1.0
            assert o["status"] in {"ok", "lidOpen", "dropped", "moved", "vandalized", "burning"}
            assert o["dateObserved"].endswith("Z")
            t = datetime.fromisoformat(o["dateObserved"].replace("Z", "+00:00"))
            assert t.astimezone(PARIS).date() == d
            assert o["cargoWeight"] >= 0 and isinstance(o["temperature"], float)
    assert len(ids) == n == w["sensor_readings"] > 0   # message ids are unique
    assert len(sensors) == w["sensor_bins"] == round(0.7 * len(bins))


def test_litter_parquet(sim):
    city, landing, _, w, _ = sim
    total, ids = 0, set()
    for d in _days(city):
        t = pq.read_table(landing / "waste" / "litter" / f"litter_{d.isoformat()}.parquet")
        assert t.schema.remove_metadata() == LITTER_SCHEMA
        rows = t.to_pylist()
        total += len(rows)
        for r in rows:
            ids.add(r["detection_id"])
            assert r["category"] in LITTER_CATEGORIES and r["count"] >= 1
            assert 43.5 < r["lat"] < 43.6 and 6.9 < r["lon"] < 7.1
            assert 0.0 < r["confidence"] <= 1.0
            assert r["detected_at"].astimezone(PARIS).date() == d
    assert total == len(ids) == w["litter_detections"] > 0


def test_waste_truth(sim):
    city, landing, truth, _, _ = sim
    t = pq.read_table(truth / "waste" / "fill_hourly.parquet")
    assert t.schema.names == ["bin_id", "ts", "true_fill", "overflow"]
    assert t.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    hours = 24 * city.profile.n_days
    assert t.num_rows == len(city.bins) * hours
    fill = t.column("true_fill").to_pylist()
    over = t.column("overflow").to_pylist()
    assert min(fill) >= 0 and all(o == (f > 1.0) for f, o in zip(fill, over))
    # the latent bin is empty right after a logged pickup
    by_key = {(b, ts): f for b, ts, f in zip(t.column("bin_id").to_pylist(), t.column("ts").to_pylist(), fill)}
    checked = 0
    for d in _days(city):
        _, rows = _read_csv(landing / "waste" / "collection_logs" / f"collecte_{d.isoformat()}.csv")
        for r in rows:
            after = datetime.fromisoformat(r["collected_at"]).replace(minute=0, second=0) + timedelta(hours=2)
            if (r["bin_id"], after) in by_key:
                assert by_key[(r["bin_id"], after)] < 0.3
                checked += 1
    assert checked > 0
    header, rows = _read_csv(truth / "waste" / "litter_intensity.csv")
    assert header[:3] == ["segment_id", "category", "rate_per_100m"]
    assert len(rows) == len(city.segments) * len(LITTER_CATEGORIES)
    assert all(float(r["rate_per_100m"]) > 0 for r in rows)


# ------------------------------------------------------------------------------------ admin

def _num(v):
    if v is None or v == "":
        return None
    return float(v)


def _load_report(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {s: [] for s in SECTIONS}
    if path.suffix == ".csv":
        header, rows = _read_csv(path)
        assert header == REPORT_HEADER
    elif path.suffix == ".json":
        obj = json.loads(path.read_text(encoding="utf-8"))
        assert set(obj) == {"contract_id", "year", "delegate", "sections"}
        assert path.stem == f"{obj['contract_id']}_{obj['year']}"
        rows = [r for s in SECTIONS for r in obj["sections"][s]]
    else:
        import openpyxl
        wb = openpyxl.load_workbook(path, read_only=True)
        assert wb.sheetnames == ["contrat", *SECTIONS]
        contrat = list(wb["contrat"].values)
        assert list(contrat[0]) == ["contract_id", "year", "delegate"]
        assert path.stem == f"{contrat[1][0]}_{contrat[1][1]}"
        rows = []
        for s in SECTIONS:
            vals = list(wb[s].values)
            assert list(vals[0]) == REPORT_HEADER
            rows += [dict(zip(REPORT_HEADER, v)) for v in vals[1:]]
        wb.close()
    for r in rows:
        assert list(r) == REPORT_HEADER or set(r) == set(REPORT_HEADER)
        out[r["section"]].append({**r, "value": _num(r["value"]), "previous_value": _num(r["previous_value"]),
                                  "target": _num(r["target"])})
    return out


def test_dsp_contracts_and_reports(sim):
    city, landing, truth, _, a = sim
    header, contracts = _read_csv(landing / "reference" / "dsp_contracts.csv")
    assert header == CONTRACT_HEADER and len(contracts) == 5
    assert {c["commune"] for c in contracts} == {"Cannes"}     # the delegating authority: the Ville de Cannes
    files = sorted((landing / "admin" / "dsp_reports").iterdir())
    assert {f.suffix for f in files} == {".csv", ".xlsx", ".json"}
    years = sorted(city.profile.dsp_years)
    assert len(files) == 5 * len(years) == a["reports"]
    reports = {}
    for f in files:
        cid, y = f.stem.rsplit("_", 1)
        reports[(cid, int(y))] = _load_report(f)
    for c in contracts:
        for y in years:
            rep = reports[(c["contract_id"], y)]
            assert all(rep[s] for s in SECTIONS)
            pnl = {r["code"]: r["value"] for r in rep["pnl"]}
            rev = sum(v for k, v in pnl.items() if k.startswith("REV_"))
            assert rev == pnl["TOTAL_REVENUE"]
            opex = sum(v for k, v in pnl.items() if k.startswith("COST_"))
            assert opex == pnl["TOTAL_OPEX"]
            assert pnl["EBITDA"] == pnl["TOTAL_REVENUE"] - pnl["TOTAL_OPEX"]
            assert pnl["EBIT"] == pnl["EBITDA"] - pnl["DEPRECIATION"]
            assert pnl["NET_RESULT"] == pnl["EBIT"] + pnl["FINANCIAL_RESULT"] - pnl["CORPORATE_TAX"]
            assert pnl["COST_FEE"] == float(c["annual_fee_eur"])
            inv = {r["code"]: r for r in rep["investments"]}
            lines = [r for k, r in inv.items() if k != "INV_TOTAL"]
            assert sum(r["value"] for r in lines) == inv["INV_TOTAL"]["value"]
            assert sum(r["target"] for r in lines) == inv["INV_TOTAL"]["target"]
            cmp_ = {r["code"]: r["value"] for r in rep["complaints"]}
            assert sum(v for k, v in cmp_.items() if k != "CMP_TOTAL") == cmp_["CMP_TOTAL"]
            assert all(r["target"] is not None for r in rep["kpis"])
            assert all(r["comment"].startswith("bien de re") for r in rep["assets"])
            if y - 1 in years:  # previous_value is last year's value, line by line
                prev = reports[(c["contract_id"], y - 1)]
                for s in SECTIONS:
                    last = {r["code"]: r["value"] for r in prev[s]}
                    for r in rep[s]:
                        assert r["previous_value"] == last[r["code"]], (c["contract_id"], y, r["code"])


def test_dsp_truth(sim):
    city, landing, truth, _, _ = sim
    obj = json.loads((truth / "admin" / "dsp_truth.json").read_text(encoding="utf-8"))
    _, contracts = _read_csv(landing / "reference" / "dsp_contracts.csv")
    cap = {c["contract_id"]: float(c["overhead_cap_pct"]) for c in contracts}
    types = Counter()
    for rep in obj["reports"]:
        sections = _load_report(landing / rep["file"])
        pnl = {r["code"]: r for r in sections["pnl"]}
        found = set()
        rv = pnl["TOTAL_REVENUE"]
        if (rv["value"] / rv["previous_value"] - 1) * 100 < -15:
            found.add("revenue_drop")
        if pnl["COST_OVERHEAD"]["value"] / rv["value"] * 100 > cap[rep["contract_id"]]:
            found.add("overhead_above_cap")
        for k in sections["kpis"]:
            lower = k["comment"] == "seuil maximal contractuel"
            if (k["value"] > k["target"]) if lower else (k["value"] < k["target"]):
                found.add("kpi_below_target")
        tot = next(r for r in sections["investments"] if r["code"] == "INV_TOTAL")
        if tot["value"] < 0.8 * tot["target"]:
            found.add("investment_below_plan")
        assert found == set(rep["planted"]) == {x["type"] for x in rep["anomalies"]}
        types.update(found)
    assert set(types) == {"revenue_drop", "overhead_above_cap", "kpi_below_target", "investment_below_plan"}


def _doc_text(path: Path) -> str:
    if path.suffix == ".pdf":
        from pypdf import PdfReader
        return "\n".join(p.extract_text() for p in PdfReader(path).pages)
    if path.suffix == ".docx":
        import docx
        return "\n".join(p.text for p in docx.Document(path).paragraphs)
    return path.read_text(encoding="utf-8")


def _iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    s = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97 == 1


def test_documents_and_pii(sim):
    city, landing, truth, _, a = sim
    docs = sorted((landing / "admin" / "documents").iterdir())
    assert {d.suffix for d in docs} == {".pdf", ".docx", ".txt"}
    assert {d.name.split("-0")[0] for d in docs} == {"courrier", "deliberation", "avis-marche", "compte-rendu"}
    texts = {f"admin/documents/{d.name}": _doc_text(d) for d in docs}
    pii = [json.loads(line) for line in (truth / "admin" / "pii.jsonl").read_text(encoding="utf-8").splitlines()]
    kinds = Counter(p["kind"] for p in pii)
    assert {"person", "email", "phone", "iban"} <= set(kinds)
    for p in pii:
        assert p["value"] in texts[p["file"]], p
        if p["kind"] == "iban":
            assert p["value"].startswith("FR76") and _iban_ok(p["value"])
        if p["kind"] == "phone":
            assert re.fullmatch(r"(0[67]|04) \d\d \d\d \d\d \d\d|\+33 6 \d\d \d\d \d\d \d\d", p["value"])
    # a planted e-mail survives PDF text extraction; DOCX paragraphs are readable
    pdf_mails = [p for p in pii if p["kind"] == "email" and p["file"].endswith(".pdf")]
    assert pdf_mails and all(p["value"] in texts[p["file"]] for p in pdf_mails)
    assert any(len(t) > 300 for f, t in texts.items() if f.endswith(".docx"))
    queries = [json.loads(x) for x in (truth / "admin" / "search_queries.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(queries) >= 10 and all(q["file"] in texts and q["query"] for q in queries)
    meetings = [json.loads(x) for x in (truth / "admin" / "meetings.jsonl").read_text(encoding="utf-8").splitlines()]
    assert meetings and a["meetings"] == len(meetings)
    for m in meetings:
        names = {p["name"] for p in m["attendees"]}
        text = texts[m["file"]]
        assert m["decisions"] and m["actions"]
        for act in m["actions"]:
            assert act["owner"] in names
            date.fromisoformat(act["due_date"])
        assert re.search(r"^(M\.|Mme) [A-ZÉ][\w-]+ : ", text, re.M)  # speaker turns


def test_deterministic(sim, tmp_path):
    _, landing, truth, _, _ = sim
    _run(tmp_path)
    first = {p.relative_to(landing.parent): p.read_bytes() for p in landing.parent.rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    different = [str(k) for k in first if first[k] != second[k]]
    assert not different, different

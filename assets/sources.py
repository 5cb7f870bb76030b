"""The landing-zone sources: what each one delivers, where, and how its bytes are parsed into a
bronze table. One sensor and one dynamically partitioned bronze asset per source are generated
from this list (orchestration/sensors.py, assets/bronze.py)."""


from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from transforms import inspections as TI
from transforms import parsing as P
from transforms import procurement as TP
from transforms import territory as TT
from transforms import road_annotations as RA


@dataclass(frozen=True)
class Source:
    name: str                 # sensor and dynamic-partition name
    group: str                # Dagster group = the service that owns it
    root: str                 # folder under LANDING_URI
    patterns: tuple[str, ...]  # globs under root; a survey source lists folders instead
    bronze_table: str
    description: str
    kinds: tuple[str, ...]
    parse: Callable | None = None       # tabular parser: (bytes, name) -> Parsed
    parse_one: Callable | None = None   # one-record parser: (bytes, name) -> dict
    folder_delivery: bool = False
    # many deliveries per run (a range of partitions, up to INGEST_BATCH_FILES): the many-file sources
    batched: bool = False

    def deliveries(self, landing: Path) -> list[tuple[str, Path]]:
        """(partition key, path) of every complete delivery present, sorted by key."""
        base = Path(landing) / self.root
        if not base.exists():
            return []
        out: dict[str, Path] = {}
        if self.folder_delivery:
            for manifest in base.glob("*/manifest.json"):
                out[manifest.parent.name] = manifest.parent
        else:
            for pat in self.patterns:
                for p in base.glob(pat):
                    if p.is_file() and not p.name.startswith("."):
                        out[p.relative_to(base).as_posix()] = p
        return sorted(out.items())


def _csv(spec_name: str, delimiter: str = ","):
    def parse(data: bytes, name: str):
        return P.read_csv_rows(data, name, P.SPECS[spec_name], delimiter=delimiter)
    return parse


SOURCES: list[Source] = [
    Source("quartiers", "reference", "reference", ("quartiers.geojson",), "quartiers",
           "Quartier polygons (GeoJSON, WGS84) with their official names", ("delta", "geojson"),
           parse=P.parse_quartiers),
    Source("street_segments", "reference", "reference", ("street_segments.csv",), "street_segments",
           "Street network segments with geometry in EPSG:2154 and WGS84", ("delta", "csv"),
           parse=_csv("street_segments")),
    Source("collection_points", "reference", "reference", ("collection_points.csv",), "collection_points",
           "Waste collection points (bins): capacity, stream, position", ("delta", "csv"),
           parse=_csv("collection_points")),
    Source("places", "reference", "reference", ("places.csv",), "places",
           "Depot, disposal facility, schools, playgrounds, bus stops, markets", ("delta", "csv"),
           parse=_csv("places")),
    Source("fleet", "reference", "reference", ("fleet.json",), "trucks",
           "Collection trucks (capacities, shifts) from the fleet file", ("delta", "json"),
           parse=P.parse_fleet),
    Source("fixed_rounds", "reference", "reference", ("fixed_rounds.csv",), "fixed_rounds",
           "Today's fixed weekly collection rounds (bin, weekday, truck)", ("delta", "csv"),
           parse=_csv("fixed_rounds")),
    Source("dsp_contracts", "reference", "reference", ("dsp_contracts.csv",), "dsp_contracts",
           "Public-service delegation (DSP) contracts", ("delta", "csv"),
           parse=_csv("dsp_contracts")),
    Source("procurement_buyers", "reference", "reference", ("procurement_buyers.csv",), "procurement_buyers",
           "The territory's public buyers (DECP acheteur SIRET) and the commune each buys for, or the agglomeration",
           ("delta", "csv"), parse=_csv("procurement_buyers")),
    Source("city_calendar", "reference", "reference", ("city_calendar.csv",), "city_calendar",
           "School holidays (zone B) and city events as periods (the waste forecaster's calendar)",
           ("delta", "csv"), parse=P.parse_city_calendar),
    Source("road_surveys", "voirie", "roads/surveys", (), "road_frames",
           "Vehicle-camera survey frames: EXIF position, heading and time per JPEG", ("delta", "jpeg"),
           parse_one=P.parse_survey_frame, folder_delivery=True, batched=True),
    Source("lidar_tiles", "espaces_verts", "trees/tiles", ("*/*.laz", "*/*.las"), "lidar_tiles",
           "LiDAR tile registry: header, bounds, CRS, point counts per class", ("delta", "laz"),
           parse_one=P.parse_laz_tile, batched=True),
    Source("tree_register", "espaces_verts", "trees/register", ("*.csv",), "tree_register",
           "The city's old tree register (semicolon CSV, French headers)", ("delta", "csv"),
           parse=_csv("tree_register", delimiter=";")),
    Source("collection_logs", "proprete", "waste/collection_logs", ("*.csv",), "collection_logs",
           "Daily truck collection logs: bin, time, net weight, fill seen, contamination", ("delta", "csv"),
           parse=_csv("collection_logs")),
    Source("bin_readings", "proprete", "waste/bin_sensors", ("*.jsonl",), "bin_readings",
           "Bin fill-sensor readings (FIWARE WasteContainer JSON lines)", ("delta", "json"),
           parse=P.parse_bin_readings),
    Source("litter_detections", "proprete", "waste/litter", ("*.parquet",), "litter_detections",
           "Litter detections from vehicle cameras (category, count, position)", ("delta", "parquet"),
           parse=P.parse_litter_parquet),
    Source("dsp_reports", "administration", "admin/dsp_reports", ("*.csv", "*.xlsx", "*.json"),
           "dsp_report_lines", "Delegates' annual report data (CSV, XLSX or JSON) as long rows",
           ("delta", "xlsx"), parse=P.parse_dsp_report),
    Source("documents", "administration", "admin/documents", ("*.pdf", "*.docx", "*.txt"), "documents",
           "Administrative documents registry (PDF, DOCX, TXT)", ("delta", "pdf"),
           parse_one=P.parse_document),
    Source("communes", "reference", "reference", ("communes.geojson",), "communes",
           "Commune boundaries (GeoJSON, WGS84) with INSEE code and name: the territory accepted",
           ("delta", "geojson"), parse=TT.parse_communes),
    Source("tree_inspections", "espaces_verts", "trees/inspections", ("*.csv",), "tree_inspections",
           "Arborists' inspection records exported from the field app (CSV): tree, date, Roloff "
           "vitality, defects, TRAQ likelihood of failure, measured height and DBH, inspector", ("delta", "csv"),
           parse=TI.parse_inspections),
    Source("procurement", "administration", "admin/procurement", ("*.json",), "procurement_contracts",
           "Public contracts of the city's buyers as published in the DECP (data.gouv.fr JSON, arrêtés of "
           "22 December 2022 format or the 2019 consolidated one): one row per marché, holders and "
           "modifications as JSON", ("delta", "json"), parse=TP.parse_decp),
    Source("procurement_suppliers", "administration", "admin/procurement/sirene", ("*.csv",),
           "procurement_suppliers", "INSEE SIRENE extract of the contracts' holders (siren, "
           "categorieEntreprise PME/ETI/GE): the company size the DECP does not carry", ("delta", "csv"),
           parse=TP.parse_sirene),
]

# Road damage labels, COCO JSON as CVAT / Label Studio export it (transforms/road_annotations.py)
SOURCES.append(
    Source("road_annotations", "voirie", "roads/annotations", ("*.json", "*/*.json"), "road_annotations",
           "Road damage annotations of survey frames: COCO JSON (CVAT / Label Studio export), boxes and "
           "polygons per damage class, a severity attribute per annotation", ("delta", "json"),
           parse=RA.parse_coco_annotations))

SOURCES_BY_NAME = {s.name: s for s in SOURCES}


def _open311(data: bytes, name: str):
    """A GeoReport v2 requests export (JSON array): good rows redacted, bad requests with their reason."""
    import polars as pl

    from models.citizens.open311 import BadRequest, decode_requests, parse_requests
    try:
        good, bad = parse_requests(decode_requests(data, name))
    except BadRequest as exc:
        raise P.BadDelivery(str(exc)) from None
    return P.Parsed(good, pl.DataFrame(bad, schema=P.Parsed.empty_bad().schema))


# Residents' reports, Open311 GeoReport v2 (models/citizens/open311.py); live: orchestration/nats.py
SOURCES.append(
    Source("citizen_requests", "relation_usagers", "citizens/requests", ("*.json",), "citizen_requests",
           "Residents' reports as Open311 GeoReport v2 service requests (JSON export): category, position, "
           "time, status; free text redacted before storage, photos referenced (anonymised in silver)",
           ("delta", "json"), parse=_open311))
SOURCES_BY_NAME = {s.name: s for s in SOURCES}

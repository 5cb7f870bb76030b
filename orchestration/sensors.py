"""One sensor per landing-zone source: each new delivery becomes a dynamic partition of the
source's bronze asset and gets one run, keyed by its content hash.

The cursor remembers, per delivery, its content hash and the (size, mtime) it was hashed at, so
a tick re-hashes only files that changed. A delivery whose bytes were already delivered under
another name is still run once, tagged `lakehouse/duplicate_of`; the bronze asset checks the
lake's lineage and quarantines it as a duplicate instead of ingesting it twice.
"""

import json
from pathlib import Path

import dagster as dg

from assets.bronze import delivery_checksum, partitions_for
from assets.lake import LakeResource
from assets.sources import SOURCES, Source

SOURCE_TAG = "lakehouse/source"
CHECKSUM_TAG = "lakehouse/checksum"
DUPLICATE_TAG = "lakehouse/duplicate_of"


def ingest_job_name(source: Source) -> str:
    return f"ingest_{source.name}"


def _stamp(path: Path) -> list:
    target = path / "manifest.json" if path.is_dir() else path
    st = target.stat()
    return [st.st_size, st.st_mtime_ns]


def evaluate_landing(source: Source, landing: Path, cursor: dict, existing_partitions: set[str]):
    """Pure sensor logic: (run requests, partitions to add, new cursor) for the deliveries now in
    the landing zone. `cursor` maps delivery key -> [sha256, size, mtime_ns]."""
    cursor = dict(cursor)
    seen = {}
    for k, v in sorted(cursor.items()):
        seen.setdefault(v[0], k)
    runs, new_parts = [], []
    for key, path in source.deliveries(landing):
        try:
            stamp = _stamp(path)
        except FileNotFoundError:
            continue  # moved away between listing and stat
        prev = cursor.get(key)
        if prev and prev[1:] == stamp:
            continue  # unchanged since last hashed
        checksum = delivery_checksum(source, path)
        if prev and prev[0] == checksum:
            cursor[key] = [checksum, *stamp]  # touched, same bytes: nothing to do
            continue
        tags = {SOURCE_TAG: source.name, CHECKSUM_TAG: checksum}
        original = seen.get(checksum)
        run_key = checksum
        if original is not None and original != key:
            tags[DUPLICATE_TAG] = original
            run_key = f"{checksum}:duplicate:{key}"
        if key not in existing_partitions and key not in new_parts:
            new_parts.append(key)
        runs.append(dg.RunRequest(run_key=run_key, partition_key=key, tags=tags))
        cursor[key] = [checksum, *stamp]
        seen.setdefault(checksum, key)
    return runs, new_parts, cursor


def build_sensor(source: Source) -> dg.SensorDefinition:
    parts = partitions_for(source)

    @dg.sensor(name=f"landing_{source.name}", job_name=ingest_job_name(source), minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Watches landing/{source.root} for new {source.name} deliveries; one run per "
                           f"delivery, run_key = content hash.")
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        existing = set(context.instance.get_dynamic_partitions(source.name)) if context.instance else set()
        runs, new_parts, cursor = evaluate_landing(source, lake.landing, cursor, existing)
        return dg.SensorResult(
            run_requests=runs, cursor=json.dumps(cursor, sort_keys=True),
            dynamic_partitions_requests=[parts.build_add_request(new_parts)] if new_parts else [],
            skip_reason=None if runs else f"no new delivery in landing/{source.root}")

    return _sensor


SENSORS = [build_sensor(s) for s in SOURCES]

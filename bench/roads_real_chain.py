"""The roads chain as ONE timed pipeline on real frames: decode -> anonymise (face and plate
detectors, then blur) -> damage inference (the shipped grid model) -> encode, at 640 x 360.

    OMP_NUM_THREADS=1 .venv/bin/python bench/roads_real_chain.py [--frames 240] [--workers 2]

Frames: the held-out real dash-cam frames of ../shared/real/plates (bench/real_anon_sets.py),
resized to 640 x 360 and JPEG-encoded in memory (the camera's input), cycled to `--frames`.
Every frame goes through the whole chain in one worker (`--workers` threads, torch one thread
and OpenCV one thread each: the production setting of a 2-core machine, as `anonymise_many`
sets it), exactly the calls `anonymise_image` makes (`detect_faces`, `detect_plates`,
`redact_union`) then `DamageDetector.detect` on the anonymised frame and `encode_jpeg` (EXIF
kept). One warm-up pass over a few frames, then one timed run:

* frames/s of the timed run (wall clock, all workers together);
* per-stage shares of that run (each stage's wall time summed over the workers, over the sum of
  all stages): the detectors' share is `detect`;
* the same chain on one thread (no pool): wall ms per frame by stage and the process's CPU ms
  per frame (less inflated by other jobs on a shared machine);
* the 1-minute load average before and after (the machine may be shared: say so with the figure).

Results: printed and returned (bench/roads_real.py writes them into its JSON).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.roads.anonymise import (AnonymiserConfig, decode_jpeg, detect_faces, detect_plates,  # noqa: E402
                                    encode_jpeg, redact_union)
from models.roads.detector import DamageDetector  # noqa: E402
from models.roads.finetune import SHIPPED  # noqa: E402

STAGES = ("decode", "detect", "blur", "damage", "encode")


def camera_frames(n: int, split: str = "heldout") -> list[bytes]:
    """The held-out real dash-cam frames at 640 x 360 as JPEG bytes, cycled to `n`."""
    from real_anon_sets import plate_sets

    frames = []
    for im in plate_sets()[split]:
        bgr = cv2.resize(cv2.imread(str(im.path)), (640, 360), interpolation=cv2.INTER_AREA)
        frames.append(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    if not frames:
        raise FileNotFoundError("no held-out plate frames (../shared/real/plates)")
    return [frames[i % len(frames)] for i in range(n)]


class Chain:
    """decode -> detect -> blur -> damage -> encode for one JPEG, stage times accumulated."""

    def __init__(self, det: DamageDetector, cfg: AnonymiserConfig):
        self.det, self.cfg = det, cfg

    def __call__(self, jpeg: bytes, clock=time.perf_counter) -> tuple[bytes, int, dict]:
        """The chain on one frame; `clock` times the stages (wall clock by default; the
        one-thread run also passes the process's CPU clock)."""
        t = {}
        a = clock()
        rgb = decode_jpeg(jpeg)
        b = clock()
        dets = detect_faces(rgb, self.cfg) + detect_plates(rgb, self.cfg)
        c = clock()
        redact_union(rgb, [d.box for d in dets], self.cfg)
        d = clock()
        pred = self.det.detect([rgb], batch_size=1)[0]
        e = clock()
        out = encode_jpeg(rgb, self.cfg.jpeg_quality, exif_from=jpeg)
        f = clock()
        for k, v in zip(STAGES, (b - a, c - b, d - c, e - d, f - e)):
            t[k] = v
        return out, len(pred.detections), t


def _shares(times: list[dict]) -> dict:
    tot = {k: sum(t[k] for t in times) for k in STAGES}
    s = sum(tot.values())
    return {k: round(v / s, 3) for k, v in tot.items()}


def run(frames: int = 240, workers: int = 2) -> dict:
    # one torch and one OpenCV thread per worker, as `anonymise_many` sets them
    torch.set_num_threads(1)
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _run(frames, workers)
    finally:
        cv2.setNumThreads(cv_threads)


def _run(frames: int, workers: int) -> dict:
    cfg = AnonymiserConfig()
    chain = Chain(DamageDetector.from_artifact(SHIPPED, threads=1), cfg)
    jpegs = camera_frames(frames)
    for j in jpegs[:8]:                                     # warm-up: oneDNN kernels, cascades
        chain(j)
    res: dict = {"frames": len(jpegs), "workers": workers, "frame_px": [640, 360], "cpus": os.cpu_count(),
                 "damage_model": chain.det.version, "load_avg_before": [round(x, 2) for x in os.getloadavg()]}
    # one timed run of the whole chain on `workers` threads
    cpu0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outs = list(pool.map(chain, jpegs))
    wall = time.perf_counter() - t0
    res["fps"] = round(len(jpegs) / wall, 2)
    res["parallel_cpu_ms_per_frame"] = round(1000 * (time.process_time() - cpu0) / len(jpegs), 2)
    res["stage_share"] = _shares([o[2] for o in outs])
    res["detector_share"] = res["stage_share"]["detect"]
    res["damage_cells_flagged"] = int(sum(o[1] for o in outs))
    res["encoded_bytes_mean"] = int(np.mean([len(o[0]) for o in outs]))
    res["load_avg_after_parallel"] = [round(x, 2) for x in os.getloadavg()]
    # the same chain on one thread: cost per frame by stage, wall and CPU (the process's CPU
    # clock: nothing else of ours runs then, and OpenCV's helper threads are counted)
    one = jpegs[:min(len(jpegs), 120)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    times = [chain(j)[2] for j in one]
    res["one_thread_ms_per_frame"] = round(1000 * (time.perf_counter() - t0) / len(one), 2)
    res["one_thread_cpu_ms_per_frame"] = round(1000 * (time.process_time() - cpu0) / len(one), 2)
    res["one_thread_stage_ms"] = {k: round(1000 * sum(t[k] for t in times) / len(one), 2) for k in STAGES}
    cpu_times = [chain(j, clock=time.process_time)[2] for j in one]
    res["one_thread_stage_cpu_ms"] = st = {k: round(1000 * sum(t[k] for t in cpu_times) / len(one), 2) for k in STAGES}
    res["one_thread_stage_cpu_ms_total"] = tot = round(sum(st.values()), 2)
    # idle-equivalent estimate: frames/s if every core ran a worker at this CPU cost per frame
    # (an estimate, not a measurement; CPU time is itself inflated on a loaded machine)
    res["idle_equivalent_fps_estimate"] = round((os.cpu_count() or 1) * 1000 / tot, 1)
    res["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return res


def report(r: dict) -> None:
    print(f"\nONE PIPELINE, real held-out dash-cam frames at 640x360 ({r['frames']} frames): decode + anonymise "
          f"(detect + blur) + damage inference + encode, {r['workers']} worker threads")
    print(f"  {r['fps']} frames/s (target >= 25); load average before {r['load_avg_before']}, after "
          f"{r['load_avg_after_parallel']} ({r['cpus']} CPUs)")
    print("  stage shares: " + ", ".join(f"{k} {v:.0%}" for k, v in r["stage_share"].items())
          + f"  (face + plate detectors {r['detector_share']:.0%})")
    print(f"  CPU per frame over that run (all threads): {r['parallel_cpu_ms_per_frame']} ms")
    print(f"  one thread: {r['one_thread_ms_per_frame']} ms per frame wall ({r['one_thread_cpu_ms_per_frame']} ms CPU); "
          "wall ms by stage " + ", ".join(f"{k} {v}" for k, v in r["one_thread_stage_ms"].items()))
    print("  one thread, CPU ms per frame by stage: " + ", ".join(f"{k} {v}" for k, v in r["one_thread_stage_cpu_ms"].items())
          + f" (total {r['one_thread_stage_cpu_ms_total']}; target <= 80 for 25 frames/s on 2 cores)")
    print(f"  idle-equivalent estimate: {r['idle_equivalent_fps_estimate']} frames/s on {r['cpus']} free cores "
          f"(cores x 1000 / CPU ms per frame; an estimate, not a measurement); load average at the end "
          f"{r['load_avg_after']}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    r = run(a.frames, a.workers)
    report(r)
    return r


if __name__ == "__main__":
    main()

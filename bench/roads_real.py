"""Roads on real imagery: the acceptance figures of the anonymiser and the shipped damage model.

Runs `bench/roads_real_anon.py` (held-out real plates and faces: recall >= 20 px, by size band,
blurred share, false blurs, throughput at 640x360) and `bench/roads_real_damage.py` (held-out real
crack tiles: has-damage precision / recall, false alarms, box recall; the simulator's frame
macro-F1 on an unseen seed; inference ms per frame), then prints one summary with the targets and
the end-to-end frames/s of decode + anonymise + damage inference on this machine.

    python bench/roads_real.py [--skip-sim]

Needs ../shared/real (exits 0 with a message when it is absent).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-sim", action="store_true", help="skip the simulator's macro-F1 (simulates a demo city)")
    args = ap.parse_args(argv)
    if not (ROOT.parent / "shared" / "real").exists():
        print("../shared/real is absent: no real figures (nothing to measure)")
        return 0
    import roads_real_anon
    import roads_real_damage

    anon = roads_real_anon.main([])
    dargv = ["--skip-sim"] if args.skip_sim else []
    dmg = roads_real_damage.main(dargv)

    r = dmg["real_holdout"]
    fps_anon = anon.get("fps_640x360")
    inf = {t["threads"]: t["ms_per_frame"] for t in dmg["inference"]}
    ms_damage_1t = inf.get(1)
    print("\n=== Roads on real imagery: summary (real held-out sets; simulator figures labelled) ===")
    for kind in ("plate", "face"):
        k = anon[kind]["ge20"]
        print(f"  {kind} recall (>= 20 px): {k['recall']:.3f} ({k['covered']}/{k['total']})  target >= 0.95  "
              f"{'PASS' if k['recall'] >= 0.95 else 'FAIL'}")
    print(f"  damage, has-damage: precision {r['precision']:.3f} (>= 0.85), recall {r['recall']:.3f} (>= 0.90), "
          f"false alarms {r['false_alarm_rate']:.3f} (<= 0.10)  {'PASS' if r['passes'] else 'FAIL'}")
    if "simulator" in dmg:
        s = dmg["simulator"]
        print(f"  SIMULATOR frame macro-F1 (shipped model, seed {s['seed']}): {s['frame_macro_f1']:.3f} (>= 0.85)  "
              f"{'PASS' if s['passes'] else 'FAIL'}")
    if fps_anon and ms_damage_1t:
        # frames/s of the whole chain on the same worker threads: each frame costs its anonymiser
        # time (measured in parallel) plus the damage net's one-thread time
        workers = anon.get("workers", 2)
        per_frame_s = workers / fps_anon + ms_damage_1t / 1000.0
        fps = workers / per_frame_s
        share = (workers / fps_anon) / per_frame_s
        print(f"  decode + anonymise + damage at 640x360, {workers} threads: {fps:.1f} frames/s (target >= 25; "
              f"anonymiser {share:.0%} of the time; load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

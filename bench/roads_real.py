"""Roads on real imagery: the acceptance figures of the anonymiser and the shipped damage model.

Runs `bench/roads_real_anon.py` (held-out real plates and faces: recall >= 20 px, by size band,
blurred share, false blurs, throughput at 640x360) and `bench/roads_real_damage.py` (held-out real
crack tiles: has-damage precision / recall, false alarms, box recall; the simulator's frame
macro-F1 on an unseen seed; inference ms per frame) and `bench/roads_real_chain.py` (the whole chain,
decode + anonymise + damage inference + encode, as ONE timed pipeline on the held-out real
dash-cam frames at 640x360 with 2 worker threads: frames/s, per-stage shares, one-thread cost
per frame, load average), then prints one summary with the targets.

    python bench/roads_real.py [--skip-sim]

Needs ../shared/real (exits 0 with a message when it is absent).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
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
    import roads_real_chain
    import roads_real_damage

    anon = roads_real_anon.main(["--no-fps"])          # throughput: the one-pipeline run below
    dargv = ["--skip-sim"] if args.skip_sim else []
    dmg = roads_real_damage.main(dargv)
    chain = roads_real_chain.main([])
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"roads_real_chain_{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json").write_text(json.dumps(chain, indent=1))

    r = dmg["real_holdout"]
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
    c = chain
    print(f"  ONE pipeline decode + anonymise + damage + encode at 640x360, {c['workers']} threads: {c['fps']:.1f} "
          f"frames/s (target >= 25)  {'PASS' if c['fps'] >= 25 else 'FAIL'}; face + plate detectors "
          f"{c['detector_share']:.0%} of the time, damage net {c['stage_share']['damage']:.0%}; load average "
          f"{c['load_avg_before'][0]} before, {c['load_avg_after_parallel'][0]} after ({c['cpus']} CPUs); one thread "
          f"{c['one_thread_ms_per_frame']} ms per frame ({c['one_thread_cpu_ms_per_frame']} ms CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the learned plate detector (models/roads/plate_net.py) and write its weights.

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_plate_detector.py [--steps 1300] [--out models/roads/weights]

Data: the TRAINING split of ../shared/real/plates (bench/real_anon_sets.py: per video the
last 30 % of frames by time are held out, plus a 30 s gap before them used for nothing). Of
the training frames, every 6th (by time) is kept apart as validation for choosing the
threshold; the rest feed gradient steps. Each training sample is a random crop of a real
frame at a random scale, with its real plates, plus 0-3 synthetic plates pasted into it
(`synth_plate`: EU one blue band, French SIV two bands, yellow, dark, two-line square plates;
random text; dirt, shade, glare, motion blur, rotation/perspective, partial occlusion) and a
random night transform (dim, blue cast, noise, headlight glare). A share `--sim-share` of the
samples are simulator frames (tiny city, `--sim-seeds`, simulated into `--workdir` once) with
their planted French plates: their facades with window grids look like text to a net that has
seen only real roads, and taught it not to fire there. Nothing of the held-out frames is read
here.

Output: `plate_net.pt` (state dict, float32) and `plate_net.json` (training record: data,
split, steps, threshold, validation recall). Deterministic for a given seed and thread count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.roads.plate_net import STRIDE, WORK_SIDE, PlateNet, boxes_from_heatmap, heatmap, to_input  # noqa: E402
from real_anon_sets import COVERED, covered_share, plate_sets  # noqa: E402

CHARS = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"))
FONTS = [cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN]


def synth_plate(rng: np.random.Generator) -> np.ndarray:
    """One plate image (RGB, about 110 px high) of a random European format."""
    kind = rng.choice(["eu1", "eu1", "eu1", "fr", "yellow", "dark", "square", "plain"])
    if kind == "square":
        h, w = 200, int(rng.uniform(240, 340))
    else:
        h, w = 110, int(rng.uniform(440, 540))
    ground = {"yellow": (250, 205, 20), "dark": (25, 25, 28)}.get(kind, (245, 245, 242))
    ground = tuple(int(np.clip(c + rng.normal(0, 8), 0, 255)) for c in ground)
    ink = (235, 235, 235) if kind == "dark" else (15, 15, 18)
    p = np.zeros((h, w, 3), np.uint8)
    p[:] = ground
    x0, x1 = 8, w - 8
    blue = (0, int(rng.uniform(30, 70)), int(rng.uniform(130, 180)))
    if kind in ("eu1", "fr", "yellow", "square") and rng.random() < 0.9:
        bw = int(h * rng.uniform(0.38, 0.48)) if kind != "square" else int(w * 0.13)
        cv2.rectangle(p, (0, 0), (bw, h - 1), blue, -1)
        cv2.putText(p, str(rng.choice(list("FDIRONLBPE"))), (bw // 5, int(h * 0.88)), FONTS[0], h / 90,
                    (255, 255, 255), 2, cv2.LINE_AA)
        x0 = bw + 6
    if kind == "fr":
        cv2.rectangle(p, (w - int(h * 0.45), 0), (w - 1, h - 1), blue, -1)
        x1 = w - int(h * 0.45) - 6
    rows = 2 if kind == "square" else 1
    n = int(rng.integers(5, 9)) if rows == 1 else int(rng.integers(3, 5))
    font = FONTS[int(rng.integers(0, len(FONTS)))]
    for r in range(rows):
        text = "".join(rng.choice(CHARS, n))
        if rows == 1 and rng.random() < 0.5:
            k = int(rng.integers(1, n - 1))
            text = text[:k] + rng.choice([" ", "-"]) + text[k:]
        band = h / rows
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
        sc = min((x1 - x0) / tw, 0.7 * band / th)
        th_px = max(1, int(sc * 2.6))
        (tw, th), _ = cv2.getTextSize(text, font, sc, th_px)
        cv2.putText(p, text, (x0 + (x1 - x0 - tw) // 2, int(r * band + band / 2 + th / 2)), font, sc, ink, th_px,
                    cv2.LINE_AA)
    if rng.random() < 0.7:
        cv2.rectangle(p, (0, 0), (w - 1, h - 1), (20, 20, 20), int(rng.integers(1, 5)))
    return p


def _degrade(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dirt, shade (flat or a gradient), glare on the plate image."""
    p = p.astype(np.float32)
    h, w = p.shape[:2]
    if rng.random() < 0.4:                                   # dirt blotches
        for _ in range(int(rng.integers(2, 12))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            ax = (int(rng.uniform(3, w / 6)), int(rng.uniform(3, h / 3)))
            col = np.array([rng.uniform(60, 130), rng.uniform(50, 110), rng.uniform(30, 80)])
            m = np.zeros((h, w), np.float32)
            cv2.ellipse(m, c, ax, rng.uniform(0, 180), 0, 360, 1.0, -1)
            a = cv2.GaussianBlur(m, (0, 0), 3)[..., None] * rng.uniform(0.3, 0.8)
            p = p * (1 - a) + col * a
    if rng.random() < 0.5:                                   # shade
        g = np.linspace(rng.uniform(0.15, 1.0), rng.uniform(0.15, 1.0), w if rng.random() < 0.5 else h)
        g = g[None, :, None] if len(g) == w else g[:, None, None]
        p = p * g
    if rng.random() < 0.2:                                   # glare
        m = np.zeros((h, w), np.float32)
        cv2.ellipse(m, (int(rng.integers(0, w)), int(rng.integers(0, h))), (int(w / 5), int(h / 2)), 0, 0, 360, 1, -1)
        p = p + cv2.GaussianBlur(m, (0, 0), 8)[..., None] * rng.uniform(80, 200)
    return np.clip(p, 0, 255).astype(np.uint8)


def paste(img: np.ndarray, rng: np.random.Generator, boxes: list) -> None:
    """Paste one degraded synthetic plate into `img` at a random place, size and angle; its
    full (axis-aligned) box goes into `boxes` even when part of it is then occluded."""
    H, W = img.shape[:2]
    src = _degrade(synth_plate(rng), rng)
    sh, sw = src.shape[:2]
    ph = float(np.exp(rng.uniform(np.log(6), np.log(34))))   # plate height in px of the crop
    pw = ph * sw / sh * rng.uniform(0.75, 1.05)               # seen at an angle: narrower
    ang = np.radians(rng.normal(0, 6))
    shear = rng.normal(0, 0.08)
    cx, cy = rng.uniform(pw / 2 + 2, W - pw / 2 - 2), rng.uniform(ph + 2, H - ph - 2)
    c = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    c[:, 1] += c[:, 0] * shear
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    c = c @ rot.T + [cx, cy]
    c += rng.normal(0, ph * 0.04, c.shape)                   # perspective
    x0, y0 = np.floor(c.min(0)).astype(int)
    x1, y1 = np.ceil(c.max(0)).astype(int)
    if x0 < 0 or y0 < 0 or x1 >= W or y1 >= H or pw < 10:
        return
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [sw - 1, 0], [sw - 1, sh - 1], [0, sh - 1]]),
                                    np.float32(c - [x0, y0]))
    size = (x1 - x0 + 1, y1 - y0 + 1)
    warped = cv2.warpPerspective(src, M, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((sh, sw), 255, np.uint8), M, size, flags=cv2.INTER_LINEAR)
    if rng.random() < 0.3:                                   # motion blur
        k = int(rng.integers(3, 9))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2] = 1.0 / k
        ker = cv2.warpAffine(ker, cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(-30, 30), 1), (k, k))
        warped = cv2.filter2D(warped, -1, ker / max(ker.sum(), 1e-6))
    elif rng.random() < 0.3:
        warped = cv2.GaussianBlur(warped, (0, 0), rng.uniform(0.5, 1.5))
    sub = img[y0:y1 + 1, x0:x1 + 1]
    a = (mask.astype(np.float32) / 255.0)[..., None]
    sub[:] = (warped * a + sub * (1 - a)).astype(np.uint8)
    if rng.random() < 0.15:                                  # partial occlusion (a passer-by, a pole)
        ow = int((x1 - x0) * rng.uniform(0.2, 0.5))
        ox = x0 if rng.random() < 0.5 else x1 - ow
        col = img[int(rng.integers(0, H)), int(rng.integers(0, W))].tolist()
        cv2.rectangle(img, (ox, max(0, y0 - 4)), (ox + ow, min(H - 1, y1 + 4)), col, -1)
    boxes.append([x0, y0, x1, y1])


def night(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32) * rng.uniform(0.15, 0.45) * np.array([0.85, 0.9, 1.1])
    f += rng.normal(0, rng.uniform(2, 7), f.shape)
    if rng.random() < 0.5:                                   # headlight glare
        H, W = img.shape[:2]
        m = np.zeros((H, W), np.float32)
        cv2.circle(m, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.uniform(5, 30)), 1, -1)
        f += cv2.GaussianBlur(m, (0, 0), 10)[..., None] * 255
    return np.clip(f, 0, 255).astype(np.uint8)


def target(boxes: list, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape[0] // STRIDE, shape[1] // STRIDE
    t = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in boxes:
        a, b = int(np.floor(x0 / STRIDE)), int(np.ceil((x1 + 1) / STRIDE))
        c, d = int(np.floor(y0 / STRIDE)), int(np.ceil((y1 + 1) / STRIDE))
        t[max(0, c):min(h, d), max(0, a):min(w, b)] = 1.0
    return t


def sample(frames: list, rng: np.random.Generator, crop=(192, 320)) -> tuple[np.ndarray, np.ndarray]:
    rgb, boxes = frames[int(rng.integers(0, len(frames)))]
    s = WORK_SIDE / max(rgb.shape[:2]) * float(np.exp(rng.uniform(np.log(0.6), np.log(1.8))))
    img = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if img.shape[0] < crop[0] or img.shape[1] < crop[1]:
        img = cv2.copyMakeBorder(img, 0, max(0, crop[0] - img.shape[0]), 0, max(0, crop[1] - img.shape[1]),
                                 cv2.BORDER_REFLECT)
    b = boxes * s
    if len(b) and rng.random() < 0.6:                        # centre a crop near a real plate half the time
        x0, y0, x1, y1 = b[int(rng.integers(0, len(b)))]
        oy = int(np.clip((y0 + y1) / 2 - rng.uniform(0.2, 0.8) * crop[0], 0, img.shape[0] - crop[0]))
        ox = int(np.clip((x0 + x1) / 2 - rng.uniform(0.2, 0.8) * crop[1], 0, img.shape[1] - crop[1]))
    else:
        oy = int(rng.integers(0, img.shape[0] - crop[0] + 1))
        ox = int(rng.integers(0, img.shape[1] - crop[1] + 1))
    img = np.ascontiguousarray(img[oy:oy + crop[0], ox:ox + crop[1]])
    out = []
    for x0, y0, x1, y1 in b - [ox, oy, ox, oy]:
        # a plate cut by the crop still counts when most of it is inside
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(crop[1] - 1, x1), min(crop[0] - 1, y1)
        if cx1 > cx0 and cy1 > cy0 and (cx1 - cx0) * (cy1 - cy0) >= 0.4 * (x1 - x0) * (y1 - y0):
            out.append([cx0, cy0, cx1, cy1])
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        paste(img, rng, out)
    if rng.random() < 0.5:
        img = np.ascontiguousarray(img[:, ::-1])
        out = [[crop[1] - 1 - x1, y0, crop[1] - 1 - x0, y1] for x0, y0, x1, y1 in out]
    if rng.random() < 0.25:
        img = night(img, rng)
    if rng.random() < 0.3:                                   # exposure / contrast
        img = np.clip(img.astype(np.float32) * rng.uniform(0.5, 1.4) + rng.uniform(-30, 30), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:                                   # JPEG
        img = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 90))])[1], 1)
    return img, target(out, crop)


def sim_frames(seeds: list[int], workdir: Path) -> list:
    """Every frame of the simulated tiny-city surveys of `seeds` with its planted plate boxes
    (RGB at the simulator's 640 x 360), simulated once into `workdir`."""
    from models.roads.dataset import load_survey
    from models.simulator.city import build_city
    from models.simulator.roads import simulate_roads

    out = []
    for seed in seeds:
        base = workdir / f"tiny-{seed}"
        if not (base / "done").exists():
            simulate_roads(build_city("tiny", seed), base / "landing", base / "truth")
            (base / "done").write_text("ok")
        for r in load_survey(base / "landing", base / "truth"):
            rgb = cv2.cvtColor(cv2.imread(str(r.path)), cv2.COLOR_BGR2RGB)
            out.append((rgb, np.asarray(r.plates, float).reshape(-1, 4)))
    print(f"simulator frames: {len(out)} ({sum(len(b) for _, b in out)} plates), seeds {seeds}")
    return out


def recall(net, frames, threshold) -> tuple[float, int, float]:
    """Share of plates covered >= COVERED by the boxes of `threshold`; boxes per frame."""
    cov = tot = nb = 0
    share = 0.0
    for rgb, boxes in frames:
        p, s = heatmap(rgb, net)
        bl = boxes_from_heatmap(p, s, rgb.shape, threshold)
        nb += len(bl)
        share += sum((b[2] - b[0] + 1) * (b[3] - b[1] + 1) for b in bl) / (rgb.shape[0] * rgb.shape[1])
        for g in boxes:
            tot += 1
            cov += covered_share(g, bl, rgb.shape[:2]) >= COVERED
    return cov / max(tot, 1), tot, nb / max(len(frames), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1300)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "models" / "roads" / "weights"))
    ap.add_argument("--sim-seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    ap.add_argument("--sim-share", type=float, default=0.2)
    ap.add_argument("--workdir", default=str(ROOT / "data" / "bench" / "plate_sim"))
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    sets = plate_sets()
    train_imgs = sorted(sets["train"], key=lambda r: r.path.name)
    # validation (threshold choice): every 6th training frame of each video by time
    by_video: dict[str, list] = {}
    for r in train_imgs:
        by_video.setdefault(r.info["source_video"], []).append(r)
    fit, val = [], []
    for v, items in by_video.items():
        items.sort(key=lambda r: int(r.info["source_time_s"]))
        for k, r in enumerate(items):
            (val if k % 6 == 5 else fit).append(r)

    def load(rs):
        return [(cv2.cvtColor(cv2.imread(str(r.path)), cv2.COLOR_BGR2RGB), r.boxes) for r in rs]

    fit_f, val_f = load(fit), load(val)
    sim_f = sim_frames(args.sim_seeds, Path(args.workdir))
    print(f"real training frames: {len(fit_f)} for gradient steps ({sum(len(b) for _, b in fit_f)} plates), "
          f"{len(val_f)} for the threshold ({sum(len(b) for _, b in val_f)} plates); held-out frames not read")
    net = PlateNet()
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=args.steps, pct_start=0.1)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(4.0))
    t0 = time.time()
    net.train()
    for step in range(args.steps):
        xs, ys = zip(*(sample(sim_f if sim_f and rng.random() < args.sim_share else fit_f, rng)
                       for _ in range(args.batch)))
        x = torch.cat([to_input(np.ascontiguousarray(i)) for i in xs])
        y = torch.from_numpy(np.stack(ys))
        loss = lossf(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f} s", flush=True)
    net.eval()
    rows = []
    for thr in (0.5, 0.4, 0.3, 0.2, 0.15, 0.1):
        r, n, nb = recall(net, val_f, thr)
        rows.append({"threshold": thr, "val_recall": round(r, 4), "plates": n, "boxes_per_frame": round(nb, 2)})
        print(rows[-1])
    # the highest threshold whose validation recall is within 1 point of the best: fail safe
    best = max(r["val_recall"] for r in rows)
    chosen = max((r for r in rows if r["val_recall"] >= best - 0.01), key=lambda r: r["threshold"])
    fit_r = recall(net, fit_f, chosen["threshold"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "plate_net.pt")
    meta = {"width": 24, "threshold": chosen["threshold"], "steps": args.steps, "batch": args.batch,
            "seed": args.seed, "train_seconds": round(time.time() - t0),
            "sim_seeds": args.sim_seeds, "sim_share": args.sim_share,
            "data": {"real": "../shared/real/plates (RobertLucian/license-plate-dataset, MIT), training split of "
                             "bench/real_anon_sets.py", "real_fit_frames": len(fit_f), "real_val_frames": len(val_f),
                     "synthetic": "0-3 synthetic plates per crop (bench/train_plate_detector.py synth_plate)"},
            "validation": rows, "fit_recall": round(fit_r[0], 4)}
    (out / "plate_net.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()

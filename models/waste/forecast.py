"""Bin fill forecaster: a small GRU over the last weeks of daily fill rates, with the calendar.

Target: the *daily fill rate* of a bin on a day (share of its capacity filled in 24 h, measured
from the sensor readings between emptyings, see ``transforms.waste.daily_fill_rates``). The fill
expected at a future time is the last measured fill plus the forecast rate times the time left,
so one rate model serves both "fill at tomorrow's collection" and "days until full".

Inputs per (bin, target day): the ``WINDOW`` previous days of the bin's rate divided by its own
recent mean (so one network serves 120 L and 3000 L bins alike) with a missing-day mask, each
step's weekday and market/holiday flags; and the target day's weekday, market day near the bin,
public and school holidays, Croisette events and season. Output: the target day's rate over the
bin's mean (softplus), trained with an L1 loss (the bench reports MAE).

Baseline beside it (``seasonal_naive``): the rate the same weekday one week earlier (else the
latest observed day, else the bin's mean).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

WINDOW = 21
STEP_FEATURES = 11    # rate, mask, weekday one-hot (7), market day, holiday
DAY_FEATURES = 13     # weekday one-hot (7), market day, public holiday, school holiday, event, season cos/sin


@dataclass(frozen=True)
class ForecastConfig:
    window: int = WINDOW
    hidden: int = 32
    epochs: int = 60
    batch: int = 256
    lr: float = 5e-3
    seed: int = 0
    max_seconds: float = 600.0     # a safety net only: reaching it makes the model depend on the load


@dataclass
class Panel:
    """Dense bins x days arrays the model reads."""

    bins: list[str]
    days: list                     # datetime.date, consecutive
    rate: np.ndarray               # (B, D) daily fill rate, NaN where unobserved
    day_feats: np.ndarray          # (D, 6): public, school, event, season cos, season sin, dow
    market: np.ndarray             # (B, D) 1 when a market near the bin runs that day


def build_panel(bins: list[str], days: list, rate: np.ndarray, market: np.ndarray, calendar=None) -> Panel:
    """`calendar`: the city's ``models.waste.calendar.CityCalendar`` (from silver.city_calendar);
    None: public holidays only."""
    from .calendar import day_features

    f = [day_features(d, calendar) for d in days]
    df = np.array([[x["public_holiday"], x["school_holiday"], x["event"], x["season_cos"], x["season_sin"],
                    x["dow"]] for x in f], dtype=np.float32).reshape(len(days), 6)
    return Panel(list(bins), list(days), np.asarray(rate, np.float32), df, np.asarray(market, np.float32))


def _scale(rate: np.ndarray, j: int, window: int) -> np.ndarray:
    """Each bin's mean observed rate over the window before day j (NaN when none)."""
    import warnings

    w = rate[:, max(0, j - window):j]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a bin with no observed day: NaN, handled
        return np.nanmean(w, axis=1) if w.shape[1] else np.full(rate.shape[0], np.nan)


def features(panel: Panel, j: int, window: int = WINDOW, fallback_scale: np.ndarray | None = None):
    """Model inputs for every bin and target day index j (j may be len(days) for "tomorrow" when
    `panel.day_feats`/`market` hold one extra day). Returns (seq, day, scale)."""
    B = panel.rate.shape[0]
    scale = _scale(panel.rate, j, window)
    if fallback_scale is not None:
        scale = np.where(np.isfinite(scale), scale, fallback_scale)
    scale = np.where(np.isfinite(scale) & (scale > 1e-3), scale, np.nan)
    seq = np.zeros((B, window, STEP_FEATURES), np.float32)
    for k in range(window):
        d = j - window + k
        if d < 0:
            continue
        r = panel.rate[:, d] / np.where(np.isfinite(scale), scale, 1.0)
        ok = np.isfinite(r)
        seq[:, k, 0] = np.where(ok, r, 0.0)
        seq[:, k, 1] = ok
        seq[:, k, 2 + int(panel.day_feats[d, 5])] = 1.0
        seq[:, k, 9] = panel.market[:, d]
        seq[:, k, 10] = max(panel.day_feats[d, 0], panel.day_feats[d, 1])
    day = np.zeros((B, DAY_FEATURES), np.float32)
    day[:, int(panel.day_feats[j, 5])] = 1.0
    day[:, 7] = panel.market[:, j]
    day[:, 8:13] = panel.day_feats[j, :5]
    return seq, day, scale


def seasonal_naive(panel: Panel, j: int) -> np.ndarray:
    """Rate one week before day j; else the latest observed; else the window mean."""
    out = np.full(panel.rate.shape[0], np.nan, np.float32)
    if j - 7 >= 0:
        out = panel.rate[:, j - 7].copy()
    for d in range(j - 1, max(-1, j - 8), -1):
        out = np.where(np.isfinite(out), out, panel.rate[:, d])
    return np.where(np.isfinite(out), out, _scale(panel.rate, j, WINDOW)).astype(np.float32)


def _net(cfg: ForecastConfig):
    import torch
    from torch import nn

    class FillGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(STEP_FEATURES, cfg.hidden, batch_first=True)
            self.head = nn.Sequential(nn.Linear(cfg.hidden + DAY_FEATURES + 1, cfg.hidden), nn.ReLU(),
                                      nn.Linear(cfg.hidden, 1))

        def forward(self, seq, day, naive):
            _, h = self.gru(seq)
            z = torch.cat([h[-1], day, naive[:, None]], dim=1)
            return nn.functional.softplus(self.head(z)[:, 0] + 0.5413)  # softplus(0.5413) = 1

    torch.manual_seed(cfg.seed)
    return FillGRU()


def training_set(panel: Panel, target_days: list[int], window: int = WINDOW):
    """Stacked samples for the target day indices where the target and a scale are known."""
    S, Dy, N, Y, SC, J = [], [], [], [], [], []
    for j in target_days:
        seq, day, scale = features(panel, j, window)
        y = panel.rate[:, j]
        naive = seasonal_naive(panel, j) / np.where(np.isfinite(scale), scale, 1.0)
        ok = np.isfinite(y) & np.isfinite(scale) & np.isfinite(naive)
        S.append(seq[ok]); Dy.append(day[ok]); N.append(naive[ok]); Y.append((y / scale)[ok]); SC.append(scale[ok])
        J.append(np.full(int(ok.sum()), j))
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, np.float32))
    return (np.concatenate(S) if S else np.zeros((0, window, STEP_FEATURES), np.float32),
            np.concatenate(Dy) if Dy else np.zeros((0, DAY_FEATURES), np.float32),
            cat(N).astype(np.float32), cat(Y).astype(np.float32), cat(SC).astype(np.float32), cat(J))


def train(panel: Panel, target_days: list[int], cfg: ForecastConfig = ForecastConfig()):
    """Fit the GRU on the given target days; returns (model, info)."""
    import torch

    torch.set_num_threads(1)   # a small GRU: one thread, the same floating-point result on any machine
    seq, day, naive, y, _, _ = training_set(panel, target_days, cfg.window)
    model = _net(cfg)
    info = {"samples": int(len(y)), "epochs_run": 0, "seconds": 0.0}
    if len(y) == 0:
        return model, info
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    S, Dt, Nt, Y = (torch.from_numpy(a) for a in (seq, day, naive, y))
    g = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    model.train()
    for ep in range(cfg.epochs):
        perm = torch.randperm(len(Y), generator=g)
        for k in range(0, len(Y), cfg.batch):
            b = perm[k:k + cfg.batch]
            loss = torch.nn.functional.l1_loss(model(S[b], Dt[b], Nt[b]), Y[b])
            opt.zero_grad(); loss.backward(); opt.step()
        sched.step()
        info["epochs_run"] = ep + 1
        if time.perf_counter() - t0 > cfg.max_seconds:
            info["stopped_by_time"] = True   # the caller logs it: this model depends on the machine's load
            break
    info["seconds"] = round(time.perf_counter() - t0, 2)
    model.eval()
    return model, info


def predict(model, panel: Panel, j: int, window: int = WINDOW, fallback_scale: np.ndarray | None = None) -> np.ndarray:
    """Forecast daily rate for every bin on day index j (NaN where the bin has no history)."""
    import torch

    seq, day, scale = features(panel, j, window, fallback_scale)
    naive = seasonal_naive(panel, j)
    naive = np.where(np.isfinite(naive), naive, scale)
    sc = np.where(np.isfinite(scale), scale, 1.0)
    with torch.inference_mode():
        out = model(torch.from_numpy(seq), torch.from_numpy(day),
                    torch.from_numpy((naive / sc).astype(np.float32))).numpy()
    return np.where(np.isfinite(scale), out * scale, np.nan).astype(np.float32)


def evaluate(model, panel: Panel, days: list[int], window: int = WINDOW) -> dict:
    """MAE (share of capacity per day) of the model and of the seasonal-naive baseline on the
    observed (bin, day) pairs of `days`."""
    em, en, n = 0.0, 0.0, 0
    for j in days:
        y = panel.rate[:, j]
        pm = predict(model, panel, j, window)
        pn = seasonal_naive(panel, j)
        ok = np.isfinite(y) & np.isfinite(pm) & np.isfinite(pn)
        em += float(np.abs(pm[ok] - y[ok]).sum()); en += float(np.abs(pn[ok] - y[ok]).sum()); n += int(ok.sum())
    mae_m, mae_n = em / max(n, 1), en / max(n, 1)
    return {"pairs": n, "mae_model": round(mae_m, 5), "mae_seasonal_naive": round(mae_n, 5),
            "improvement_pct": round(100 * (1 - mae_m / mae_n), 1) if mae_n > 0 else 0.0}


def save(model, cfg: ForecastConfig, folder: Path, card: dict) -> None:
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    (folder / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
    m = card.get("metrics", {})
    lines = [f"# Model card: {card.get('model')} {card.get('version')}", "",
             f"- Trained: {card.get('trained_at')}",
             "- Task: daily fill rate per bin (share of capacity per day), one day ahead",
             f"- Architecture: GRU({STEP_FEATURES}->{cfg.hidden}) over {cfg.window} days + calendar head, L1 loss",
             f"- Data: {card.get('data')}",
             f"- Calendar: {card.get('calendar', 'public holidays only')}",
             f"- Training samples: {card.get('training_samples')}; held-out days: {card.get('holdout_days')}",
             f"- MAE model: {m.get('mae_model')}; MAE seasonal naive: {m.get('mae_seasonal_naive')}; "
             f"improvement: {m.get('improvement_pct')} % on {m.get('pairs')} (bin, day) pairs",
             "- Limits: bins without a sensor get no model forecast (their rate comes from the crews' "
             "fill estimates); a short history (under a week) makes the weekday pattern unknown.",
             "- Use: a proposal for the collection planners, who accept or change the routes."]
    (folder / "model_card.md").write_text("\n".join(lines) + "\n")


def load(folder: Path):
    import torch

    folder = Path(folder)
    cfg = ForecastConfig(**json.loads((folder / "config.json").read_text()))
    model = _net(cfg)
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    model.eval()
    return model, cfg


# ---------------------------------------------------------------- shared by the scoring asset and the month bench

def panel_from_rates(rates, positions, markets, until, extra_days: int = 1, calendar=None) -> Panel | None:
    """Dense panel of the sensor bins' daily fill rates (``transforms.waste.daily_fill_rates``)
    from the first rated day to `until` (the last day with data), plus `extra_days` calendar days
    after it (the day to forecast). `positions`: bin_id, x_2154, y_2154; `markets`: x_2154,
    y_2154, attributes; `calendar`: the city's ``CityCalendar``. None when there is no rate yet."""
    from datetime import timedelta

    import polars as pl

    from .calendar import market_matrix

    if rates.is_empty():
        return None
    sensor_bins = sorted(rates["bin_id"].unique().to_list())
    d0 = rates["day"].min()
    days = [d0 + timedelta(i) for i in range((until - d0).days + 1 + extra_days)]
    idx = {b: i for i, b in enumerate(sensor_bins)}
    R = np.full((len(sensor_bins), len(days)), np.nan, np.float32)
    bi = np.array([idx[b] for b in rates["bin_id"].to_list()])
    di = np.array([(d - d0).days for d in rates["day"].to_list()])
    keep = di < len(days)
    R[bi[keep], di[keep]] = rates["rate_per_day"].to_numpy()[keep]
    xy = positions.filter(pl.col("bin_id").is_in(sensor_bins)).sort("bin_id")
    M = market_matrix(xy["x_2154"].to_numpy(), xy["y_2154"].to_numpy(), markets, days)
    return build_panel(sensor_bins, days, R, M, calendar)


def _frame(bins, model_rate, naive_rate):
    import polars as pl

    f = (lambda a: [None if not np.isfinite(v) else float(v) for v in a])
    return pl.DataFrame({"bin_id": list(bins), "rate_model": f(model_rate), "rate_naive": f(naive_rate)},
                        schema={"bin_id": pl.Utf8, "rate_model": pl.Float64, "rate_naive": pl.Float64})


def score_rates(model, panel: Panel | None, window: int = WINDOW):
    """The forecast daily rate of every sensor bin for the panel's last day (the day after the
    data), and the seasonal-naive rate beside it: bin_id, rate_model, rate_naive."""
    if panel is None:
        return _frame([], [], [])
    j = len(panel.days) - 1
    return _frame(panel.bins, predict(model, panel, j, window), seasonal_naive(panel, j))


def running_mean_rates(panel: Panel | None, window: int = WINDOW):
    """The baseline a platform without the model would plan on: each bin's mean observed rate
    over the last `window` days (the model's own scale), in the same frame as ``score_rates``."""
    if panel is None:
        return _frame([], [], [])
    j = len(panel.days) - 1
    return _frame(panel.bins, _scale(panel.rate, j, window), seasonal_naive(panel, j))

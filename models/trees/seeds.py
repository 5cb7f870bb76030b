"""The crown seeds of the stem-first path as they are found, and what they are found on (the
CHM, the stems, the local-maximum tops): shared by :mod:`models.trees.stem_first` and
:mod:`models.trees.leaning`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["StemScene", "TopSet", "SeedList"]


@dataclass(frozen=True)
class StemScene:
    """The CHM on its grid (``xmin``, ``ymax``: its corner, ``res``: its cell size) and the stems
    (``stems``: their ``x``, ``y``; ``sr``, ``sc``: their cells)."""
    chm: np.ndarray
    xmin: float
    ymax: float
    res: float
    stems: dict
    sr: np.ndarray
    sc: np.ndarray


@dataclass(frozen=True)
class TopSet:
    """The local-maximum tops: their cells, centres (m) and CHM heights."""
    rows: np.ndarray
    cols: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    tz: np.ndarray


@dataclass
class SeedList:
    """Crown seeds as they are found: cell (``r``, ``c``), stem (``s``, -1: none), occluded flag
    (``o``) and apex height (``h``), one list each."""
    r: list = field(default_factory=list)
    c: list = field(default_factory=list)
    s: list = field(default_factory=list)
    o: list = field(default_factory=list)
    h: list = field(default_factory=list)

    def add(self, r, c, s, o, h) -> None:
        self.r.append(r); self.c.append(c); self.s.append(s); self.o.append(o); self.h.append(h)

    def drop(self, k: int) -> None:
        for lst in (self.r, self.c, self.s, self.o, self.h):
            del lst[k]

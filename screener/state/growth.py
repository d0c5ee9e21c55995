"""Growing a store's arrays in place, shared by the rings (`windows`) and the stores (`store`)."""

from __future__ import annotations

import numpy as np


def grown(a: np.ndarray, rows: int) -> np.ndarray:
    """`a` with `rows` rows: the old ones kept, the new ones zero. In place (numpy's resize:
    a realloc, which for large arrays remaps the pages rather than copying them; profiled on
    `screener bench engine`, copying a growing store's rows into fresh arrays, and faulting
    those pages in, was ~0.3 ms a batch, the users' store alone ~30 ms to reach 65k keys).
    Without the reference check: a store's arrays are only ever held by their owner (the
    compiled calls take a buffer for the call; reads index copies out), so no view of the old
    memory survives the call."""
    a.resize((rows, *a.shape[1:]), refcheck=False)
    return a

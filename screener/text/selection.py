"""Some messages of a batch, read through the batch's views without folding them again.

The service screens a batch's evidence once and its behaviour state once per input partition
(`Engine.screen_partitioned`): each partition's state reads the compact codes of its own
messages only. A message's codes are the same whether it was folded alone or in a batch (the
views fold character by character; messages are split by SEP), so a selection serves the
batch's codes at the chosen messages' start and end positions instead of a second
`BatchText.build`, which was most of a small batch's cost per partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from screener.text.views import Codes, Layer, Positions, View


class MessageCodes(Protocol):
    """What reads messages' codes by position needs of a batch: `BatchText` or a selection."""

    def codes(self, name: View) -> Codes: ...
    def message_starts(self, layer: Layer) -> Positions: ...
    def message_ends(self, layer: Layer) -> Positions: ...


class Selection:
    """Messages `where` of `batch`, renumbered 0, 1, …: message j is the batch's `where[j]`."""

    __slots__ = ("_batch", "_where")

    def __init__(self, batch: MessageCodes, where: Sequence[int]):
        self._batch = batch
        self._where = np.asarray(where, dtype=np.int64)

    def codes(self, name: View) -> Codes:
        return self._batch.codes(name)

    def message_starts(self, layer: Layer) -> Positions:
        return self._batch.message_starts(layer)[self._where]

    def message_ends(self, layer: Layer) -> Positions:
        # the batch's own ends: a chosen message never runs on into the next one chosen
        return self._batch.message_ends(layer)[self._where]

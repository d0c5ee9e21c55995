"""What a batch's events give every behaviour state alike, worked out once per batch.

A worker screens a batch over several input partitions, each against its own state
(`state.partitioned`). Event times, user ids, media, the amounts each series adds, bank hits
and campaign signatures depend on the events alone, not on any state: computed once here for
the whole batch, each partition's state then reads them at its events' positions
(`BehaviourState.prepare_part`). Profiled at paced batches (50 records over 6 partitions),
redoing this per partition was about half of the behaviour state's cost a batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from screener.banks.bank import HashBank
from screener.campaigns import signatures
from screener.state import windows
from screener.state.windows import I64, WORDS, WindowSpec, bits_of, bits_of_each
from screener.text.selection import MessageCodes

_CONVERSATION = attrgetter("conversation.id")
_USER_ID = attrgetter("user.id")
_TS = attrgetter("ts")
_MEDIA = attrgetter("media")


def event_seconds(events: Sequence[object]) -> I64:
    """Event time in whole seconds (`ts` is a datetime or epoch milliseconds)."""
    stamps = list(map(_TS, events))
    if set(map(type, stamps)) == {int}:  # the lean decoder's epoch ms: one array op
        # (the types as a set, at C speed: a generator over `all` was ~40 us a batch)
        return np.array(stamps, np.int64) // 1000
    out = np.empty(len(events), np.int64)
    for i, ts in enumerate(stamps):
        out[i] = int(ts.timestamp()) if isinstance(ts, datetime) else int(ts) // 1000
    return out


@dataclass
class BatchFacts:
    """Per event of one batch: what the states' series add, and the campaign signatures."""

    seconds: I64
    users: list[str]
    buckets: dict[int, I64]
    """window width → each event's bucket"""
    amounts: dict[WindowSpec, np.ndarray]
    """user series (not `flagged`, stored from the verdicts) → what each event adds"""
    banks: dict[str, list[bool]]
    band_keys: npt.NDArray[np.uint64] | None = None
    """(events, BANDS) campaign band keys, where `signed` (None: the pack has no text series)"""
    signed: npt.NDArray[np.bool_] | None = None
    user_keys: list[str] | None = None
    """the users' store keys when they differ from `users` (tagged with their partition:
    `partitioned.TaggedView`)"""
    tags: npt.NDArray[np.uint16] | None = None
    """each event's partition tag (None: a state of one partition)"""

    @classmethod
    def of(
        cls,
        events: Sequence[object],
        batch: MessageCodes,
        contacts: Mapping[int, list[str]],
        evidence: Collection[int] | None,
        user_specs: Collection[WindowSpec],
        banks: Mapping[str, HashBank],
        campaigns: bool,
    ) -> BatchFacts:
        """Campaign signatures are made only for the messages in `evidence` (those with a
        lexicon hit, a detector or a regex match; all when None): an advert carries some, and
        signing only those keeps the cost in proportion to suspicious traffic."""
        secs = event_seconds(events)
        # each event's media list, read once for the media counts and the banks (profiled:
        # a field read per event costs ~0.1 µs, several of them per batch add up)
        media: list[Any] = list(map(_MEDIA, events))
        buckets = {w: windows.bucket_of(secs, w) for w in {s.width for s in user_specs}}
        amounts = {
            spec: _amounts(spec, events, contacts, media)
            for spec in user_specs
            if spec.kind != "flagged"
        }
        facts = cls(
            secs, list(map(_USER_ID, events)), buckets, amounts,
            {name: _bank_hits(bank, media) for name, bank in banks.items()},
        )  # fmt: skip
        if campaigns:
            n = len(events)
            codes = batch.codes("compact")
            starts = batch.message_starts("compact")
            ends = batch.message_ends("compact")
            if evidence is not None:
                signed = np.fromiter(sorted(evidence), np.int64, len(evidence))
                keys, has = signatures.minhash_bands_of(codes, starts, ends, signed, n)
            else:
                keys, has = signatures.minhash_bands(*signatures.shingles(codes, starts, ends), n)
            facts.band_keys, facts.signed = keys, has
        return facts


def _amounts(
    spec: WindowSpec, events: Sequence[object], contacts: Mapping[int, list[str]], media: list[Any]
) -> np.ndarray:
    n = len(events)
    if spec.kind == "events":
        return np.ones(n, np.uint32)
    if spec.kind == "media":
        return np.fromiter(map(len, media), np.uint32, n)
    if spec.kind == "conversations":
        try:  # C-speed where every event has a conversation (a chat batch)
            ids: list[str | None] = list(map(_CONVERSATION, events))
            if "" in ids:  # (found at C speed too) an empty id counts as none
                ids = [c or None for c in ids]
        except AttributeError:  # microblog posts have none
            ids = []
            for e in events:
                conv = getattr(e, "conversation", None)
                ids.append(conv.id if conv is not None and conv.id else None)
        return bits_of_each(ids)
    # contacts: only messages with some get bits (no empty list per event)
    out = np.zeros((n, WORDS), np.uint64)
    rows = sorted(i for i, found in contacts.items() if found)
    if rows:
        out[rows] = bits_of([contacts[i] for i in rows])
    return out


def _bank_hits(bank: HashBank, media: list[Any]) -> list[bool]:
    """Which events (their `media` lists) carry a medium whose SHA-256 or PDQ the bank holds."""
    out = [False] * len(media)
    sha: list[tuple[int, str]] = []
    pdq: list[tuple[int, str]] = []
    for i in [i for i, ms in enumerate(media) if ms]:  # most events have none
        for m in media[i]:
            if m.sha256:
                sha.append((i, m.sha256))
            if m.pdq:
                pdq.append((i, m.pdq))
    if sha and bank.sha256:
        for (i, _), hit in zip(sha, bank.match_sha256([h for _, h in sha]), strict=True):
            out[i] = out[i] or hit is not None
    if pdq and bank.index is not None:
        for (i, _), hit in zip(pdq, bank.match_pdq([h for _, h in pdq]), strict=True):
            out[i] = out[i] or hit is not None
    return out

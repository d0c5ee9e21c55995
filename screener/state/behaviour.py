"""What the engine reads of a partition's state for one batch, and what it writes back.

`BehaviourState` owns a partition's stores (users; campaign signatures). For a batch,
`prepare` computes every signal a pack uses, per event, in arrival order (each event counts
itself and the batch's earlier events, exactly as if screened one by one) WITHOUT storing
anything; the engine decides verdicts from them and hands back `Updates` (the batch's events
plus which of them were flagged), which `apply` stores and records for the changelog. So the
engine stays a pure function of (events, pack, state view), and `scan` and the service share
this code: offline and online verdicts agree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from screener.banks.bank import HashBank
from screener.campaigns import signatures
from screener.state import windows
from screener.state.facts import BatchFacts
from screener.state.facts import event_seconds as event_seconds
from screener.state.store import DEFAULT_CAPACITY, Store
from screener.state.windows import I64, Series, Staged, WindowSpec, bits_of_each
from screener.text.selection import MessageCodes

USER_KINDS = frozenset({"events", "media", "flagged", "conversations", "contacts"})
TEXT_KINDS = frozenset({"copies", "senders"})
CONTACT_DETECTORS = frozenset({"phone", "wechat_id", "qq", "url", "email"})
Mask = npt.NDArray[np.bool_]
Write = tuple[WindowSpec, I64, I64, np.ndarray, Staged | None]
"""what storing a batch takes for one series: its slots, buckets and amounts, and the rows the
read left staged (None: write them in `apply`)"""


def signal_name(spec: WindowSpec) -> str:
    """`user.events(10m)` → "user.events@600"; `text.copies(1h)` → "text.copies@3600"."""
    scope = "text" if spec.kind in TEXT_KINDS else "user"
    return f"{scope}.{spec.kind}@{spec.seconds}"


@dataclass(frozen=True)
class Needs:
    """What a pack's rules read: the windows, the banks, and the escalation setting."""

    windows: frozenset[WindowSpec] = frozenset()
    banks: Mapping[str, HashBank] = field(default_factory=dict)
    escalate_after: int = 0
    """a user's Nth flagged message within `escalate_window` raises its action (0: never)"""
    escalate_window: int = 3600

    def __bool__(self) -> bool:
        return bool(self.windows or self.banks or self.escalate_after)

    def user_specs(self) -> set[WindowSpec]:
        specs = {w for w in self.windows if w.kind in USER_KINDS}
        if self.escalate_after:
            specs.add(WindowSpec("flagged", self.escalate_window))
        return specs


@dataclass
class Prepared:
    """Per-event signal values for one batch, and what storing the batch will take."""

    values: dict[str, npt.NDArray[np.int64]]
    banks: dict[str, list[bool]]
    flagged: Series | None
    """the escalation window's series (None: the pack does not escalate)"""
    user_slots: I64
    seconds: I64
    writes: list[Write]
    text_keys: int = 0
    flagged_counts: npt.NDArray[np.int64] | None = None
    """the escalation window's stored counts at every event, when `prepare` read them"""
    owner: npt.NDArray[np.int64] | None = None
    """each event's partition tag (`partitioned.TaggedView`; None: one partition):
    escalation counts a user's flagged messages of the batch per partition, as apart"""

    def flagged_before(self, where: Sequence[int]) -> npt.NDArray[np.int64]:
        """Flagged messages in the escalation window before the batch, at the events `where`
        (elsewhere 0 or the count): read only for messages the batch flags, all it asks."""
        assert self.flagged is not None
        if self.flagged_counts is not None:  # read once in `prepare`: the state is unchanged
            return self.flagged_counts  # (no masking: escalation reads only `where`)
        need = np.zeros(len(self.seconds), bool)
        need[list(where)] = True
        s = self.flagged
        return _read(s, self.user_slots, s.bucket(self.seconds), None, need)


@dataclass
class Updates:
    """What the engine returns for the state to store: the batch, and its flagged events."""

    prepared: Prepared
    flagged: npt.NDArray[np.bool_]


class Row:
    """One event's view of the batch's signals, read lazily (most events are never asked):
    `get("user.events@600")` → its value; iterating gives the gates and banks that hold."""

    __slots__ = ("flags", "i", "values")

    def __init__(self, values: dict[str, npt.NDArray[np.int64]], i: int, flags: dict[str, Any]):
        self.values, self.i, self.flags = values, i, flags

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.flags:
            return self.flags[key]
        column = self.values.get(key)
        return default if column is None else int(column[self.i])

    def __iter__(self) -> Iterator[str]:
        return iter(self.flags)

    def __bool__(self) -> bool:
        return bool(self.flags)


_NO_FLAGS: dict[str, Any] = {}


class BehaviourView(Protocol):
    """What the engine may do with state: read a batch's signal values."""

    def prepare(
        self,
        events: Sequence[Any],
        batch: MessageCodes,
        contacts: Mapping[int, list[str]],
        evidence: Collection[int] | None = None,
        reads: Mapping[str, Mask] | None = None,
    ) -> Prepared: ...


class BehaviourState:
    """A behaviour state: one partition's, or every partition of a worker with each key tagged
    by its partition (`partitioned`). One owner; not thread-safe."""

    def __init__(
        self, needs: Needs, *, capacity: int = DEFAULT_CAPACITY, changelog_format: int = 2
    ):
        self.needs = needs
        form = changelog_format
        self.users = Store(needs.user_specs(), capacity=capacity, changelog_format=form)
        text = {w for w in needs.windows if w.kind in TEXT_KINDS}
        self.texts = (
            Store(text, capacity=capacity, int_keys=True, changelog_format=form) if text else None
        )
        self.flagged_spec = (
            WindowSpec("flagged", needs.escalate_window) if needs.escalate_after else None
        )

    # -- read ------------------------------------------------------------------------------------

    def prepare(
        self,
        events: Sequence[object],
        batch: MessageCodes,
        contacts: Mapping[int, list[str]],
        evidence: Collection[int] | None = None,
        reads: Mapping[str, Mask] | None = None,
    ) -> Prepared:
        """Every signal's value for every event (nothing stored yet: see `apply`).

        Campaign signatures are made only for the messages in `evidence` (all when None: see
        `BatchFacts.of`). With `reads` (signal name → events: `screener.rules.pregate`), a
        signal is read only at those events (0 elsewhere; names it lacks: nowhere); every
        event is still stored."""
        return self.prepare_part(self.facts(events, batch, contacts, evidence), None, reads)

    def facts(
        self,
        events: Sequence[object],
        batch: MessageCodes,
        contacts: Mapping[int, list[str]],
        evidence: Collection[int] | None = None,
    ) -> BatchFacts:
        """What the batch gives this state (and every state of the same pack) to read."""
        needs = self.needs
        return BatchFacts.of(events, batch, contacts, evidence, tuple(self.users.series),
                             needs.banks, self.texts is not None)  # fmt: skip

    def prepare_part(
        self, facts: BatchFacts, where: I64 | None, reads: Mapping[str, Mask] | None = None
    ) -> Prepared:
        """`prepare` of the batch's events at positions `where` (ascending; None: all of
        them), from the batch's `facts`; `reads` masks are over those events."""
        pick = _picker(where)
        secs = pick(facts.seconds)
        users = facts.users if where is None else [facts.users[i] for i in where.tolist()]
        tags = None if facts.tags is None else pick(facts.tags)
        keys = users
        if facts.user_keys is not None:
            keys = (
                facts.user_keys if where is None else [facts.user_keys[i] for i in where.tolist()]
            )
        slots = self.users.slots(keys, secs, tags)
        values: dict[str, npt.NDArray[np.int64]] = {}
        writes: list[Write] = []
        flagged_counts = None
        buckets = {w: pick(b) for w, b in facts.buckets.items()}
        for spec, series in self.users.series.items():
            b = buckets[spec.width]  # once per width: the series share a few
            name = signal_name(spec)
            if spec.kind == "flagged":  # stored by `apply`, from the verdicts
                need = _need(reads, name)
                if spec == self.flagged_spec and windows.compiled():
                    # escalation reads these counts too (`flagged_before`): one compiled
                    # pass over the batch serves both (stored counts alone: nothing staged)
                    flagged_counts = series.read(slots, b)
                    if need is None:
                        values[name] = flagged_counts
                    elif len(need) == 0:  # read nowhere (`_need`)
                        values[name] = np.zeros(len(slots), np.int64)
                    else:
                        values[name] = np.where(need, flagged_counts, 0)
                else:
                    values[name] = _read(series, slots, b, None, need)
                continue
            amounts = pick(facts.amounts[spec])
            values[name], staged = _stage(series, slots, b, amounts, _need(reads, name))
            writes.append((spec, slots, b, amounts, staged))
        flagged = self.users.series[self.flagged_spec] if self.flagged_spec is not None else None
        if self.texts is not None:
            self._campaigns(facts, pick, secs, users, values, writes, reads, tags)
        banks = (
            facts.banks
            if where is None
            else {name: [hits[i] for i in where.tolist()] for name, hits in facts.banks.items()}
        )
        return Prepared(values, banks, flagged, slots, secs, writes, flagged_counts=flagged_counts)

    def _campaigns(
        self,
        facts: BatchFacts,
        pick: Callable[[np.ndarray], np.ndarray],
        secs: I64,
        users: list[str],
        values: dict[str, npt.NDArray[np.int64]],
        writes: list[Write],
        reads: Mapping[str, Mask] | None,
        tags: npt.NDArray[np.uint16] | None = None,
    ) -> None:
        assert self.texts is not None and facts.band_keys is not None
        assert facts.signed is not None
        n = len(secs)
        keys, has = pick(facts.band_keys), pick(facts.signed)
        which = np.nonzero(has)[0]
        for spec in self.texts.specs:
            values[signal_name(spec)] = np.zeros(n, np.int64)
        if not len(which):
            return
        band_keys = keys[which].ravel()  # message-major: (message, band) pairs
        msg = np.repeat(which, signatures.BANDS)
        t = secs[msg]
        # uint64: the store's int index takes arrays
        slots = self.texts.slots(band_keys, t, None if tags is None else tags[msg])
        sender_bits = None
        for spec, series in self.texts.series.items():
            b = series.bucket(t)
            if spec.kind == "copies":
                amounts: np.ndarray = np.ones(len(msg), np.uint32)
            else:
                if sender_bits is None:  # one CRC per message, not per band
                    sender_bits = bits_of_each([users[m] for m in which.tolist()])
                amounts = np.repeat(sender_bits, signatures.BANDS, axis=0)
            need = _need(reads, signal_name(spec))
            v, staged = _stage(series, slots, b, amounts, need if need is None else need[msg])
            best = v.reshape(-1, signatures.BANDS).max(axis=1)  # the band most seen
            values[signal_name(spec)][which] = best
            writes.append((spec, slots, b, amounts, staged))

    # -- write -----------------------------------------------------------------------------------

    def apply(self, updates: Updates) -> None:
        """Store the batch's events (and flagged marks): what the engine's verdicts imply."""
        p = updates.prepared
        orders: dict[int, I64] = {}  # a store's series are written at the same slots: sort once
        for spec, slots, b, amounts, staged in p.writes:
            store = self.texts if spec.kind in TEXT_KINDS else self.users
            assert store is not None
            if staged is not None and store.series[spec].commit(staged):
                continue  # the rows `prepare` computed (unless the series changed since)
            order = orders.get(id(slots))
            if order is None and not windows.compiled():  # the compiled loop needs no sort
                order = orders[id(slots)] = np.argsort(slots, kind="stable")
            store.series[spec].write(slots, b, amounts, order)
        flagged = np.nonzero(updates.flagged)[0]
        if len(flagged):
            for spec, series in self.users.series.items():
                if spec.kind == "flagged":
                    s = p.user_slots[flagged]
                    series.write(s, series.bucket(p.seconds[flagged]), np.ones(len(s), np.uint32))
        self.users.expire_sometimes()
        if self.texts is not None:
            self.texts.expire_sometimes()

    def changes(self) -> list[tuple[bytes, bytes | None]]:
        """Changelog records since the last call: keys `u` + user id, `t` + campaign band."""
        out = self.users.changes(b"u")
        if self.texts is not None:
            out += self.texts.changes(b"t")
        return out

    def changes_by_tag(
        self, skip: int, mask: int, tags: Collection[int] | None = None
    ) -> dict[int, list[tuple[bytes, bytes | None]]]:
        """`changes` per partition tag, keys untagged (`Store.changes_by_tag`)."""
        out = self.users.changes_by_tag(b"u", skip, mask, tags)
        if self.texts is not None:
            for tag, records in self.texts.changes_by_tag(b"t", skip, mask, tags).items():
                out.setdefault(tag, []).extend(records)
        return out

    def restore(self, records: Sequence[tuple[bytes, bytes | None]], tag: int = 0) -> None:
        self.users.restore([(k[1:], v) for k, v in records if k[:1] == b"u"], tag)
        if self.texts is not None:
            self.texts.restore([(k[1:], v) for k, v in records if k[:1] == b"t"], tag)

    def forget(self, tag: int) -> None:
        """Drop one partition tag's keys, leaving no tombstones (`Store.forget`)."""
        self.users.forget(tag)
        if self.texts is not None:
            self.texts.forget(tag)

    def count(self, tag: int) -> int:
        return self.users.count(tag) + (self.texts.count(tag) if self.texts is not None else 0)

    def size(self) -> int:
        return len(self.users) + (len(self.texts) if self.texts is not None else 0)

    def evictions(self) -> int:
        ev = self.users.stats.evictions
        return ev + (self.texts.stats.evictions if self.texts is not None else 0)


_NOWHERE = np.zeros(0, bool)


def _picker(where: I64 | None) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of a batch-wide array at `where` (None: the array itself)."""
    if where is None:
        return _whole
    return lambda column: column[where]


def _whole(column: np.ndarray) -> np.ndarray:
    return column


def _need(reads: Mapping[str, Mask] | None, name: str) -> Mask | None:
    """Where `name` must be read: None everywhere; an empty mask nowhere."""
    return None if reads is None else reads.get(name, _NOWHERE)


def _read(series: Series, slots: I64, buckets: I64, amounts: np.ndarray | None,
          need: Mask | None) -> npt.NDArray[np.int64]:  # fmt: skip
    """Window values (each event counting itself and the batch's earlier events; `amounts`
    None: the stored counts alone), computed only where `need` holds and 0 elsewhere.

    A key's events in one batch change each other's values (counts, and the ring a later
    event moves on), other keys' events never do: so the events of the keys `need` asks
    for are computed together, exactly as the whole batch would compute them."""
    if need is not None and not need.any():
        return np.zeros(len(slots), np.int64)
    if need is not None and not need.all():
        if windows.compiled():  # one compiled pass over the batch costs less than np.isin
            out = _read(series, slots, buckets, amounts, None)
            out[~need] = 0  # 0 where no rule reads it: fewer gates hold, fewer rules run
            return out
        sub = np.isin(slots, slots[need])
        out = np.zeros(len(slots), np.int64)
        a = None if amounts is None else amounts[sub]
        out[sub] = _read(series, slots[sub], buckets[sub], a, None)
        return out
    if amounts is None:
        return series.read(slots, buckets)
    return series.update(slots, buckets, amounts, write=False)[0]


def _stage(series: Series, slots: I64, buckets: I64, amounts: np.ndarray,
           need: Mask | None) -> tuple[npt.NDArray[np.int64], Staged | None]:  # fmt: skip
    """`_read`'s values, with the rows storing the batch leaves staged for `apply` (compiled
    loop: one pass over the batch gives both; without it `apply` writes, and None)."""
    if not windows.compiled():
        return _read(series, slots, buckets, amounts, need), None
    # 0 where no rule reads it: fewer gates hold, fewer rules run
    return series.stage(slots, buckets, amounts, need)

"""Service metrics (Prometheus): one `Metrics` object per worker process, observing its Worker.

`Metrics` is an observer (`screener.observe.Observer`): the worker reports plain facts (a
`BatchReport` per finished batch, partitions assigned, lag per partition) and this module
imports nothing from the pipeline.

Names follow the Prometheus conventions: prefix `screener_`, base units (`_seconds`), counters
end in `_total`, histograms of durations in `_seconds`. Labels carry only bounded values: topic
names from the configuration, event kind, category/action and rule ids from the loaded pack,
DLQ reason classes, output roles. Never a user id, an event id or message text.

Updates are batched: the worker reports once per batch, with per-event facts (kinds, flags,
rule hits) already counted (C-level `Counter` passes in `pipeline.transform`), whole
batches of observations go to a histogram's buckets at once (`_observe_latencies`), and the sums
are written as one `inc(n)` per label set at most every `flush_interval` (0.25 s) — so small
batches do not pay a locked metric update per label each. `screener.measure.metrics_bench`
measures the cost against screening the same batches.

Several workers (`--workers N`): prometheus-client **multiprocess mode**, chosen over an
aggregating supervisor (the supervisor scraping each worker's own endpoint and merging):

- Every worker writes its values into mmap'd files in `PROMETHEUS_MULTIPROC_DIR` and the
  supervisor merges them at scrape time (`MultiProcessCollector`): no per-worker ports, no
  fan-out HTTP inside a scrape, and a worker stuck in a long batch or a broker outage still
  shows its last values (an aggregator would have to time out on it and drop its series).
- A worker that dies and is restarted keeps its counters: the dead process's files stay and are
  summed, so `sum(rate(...))` never sees a phantom reset; the supervisor removes only its live
  gauges (`mark_process_dead`), so the lag, readiness and in-flight gauges of a dead worker
  vanish at once.
- An update is an mmap write under a lock, the same order of cost as the in-memory value.

What multiprocess mode costs, and how this module deals with it: gauges need an aggregation
mode (`livesum` for additive state, `livemax` for rules info); `Info` is not supported, so
rules info is a gauge with a `version` label; a label set cannot be deleted from the files, so
a revoked partition's lag is set to 0 (sums stay right); `process_*` metrics exist only when a
single worker serves its own registry. Readiness (`/readyz`) is computed from the same samples
in both modes (`readiness`), so one scrape and one probe agree.

Long: the metric set, its batched updates and the multiprocess side are one concern (what
`/metrics` shows), kept together so a name and the code that writes it are in one file.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from math import inf as INF
from operator import attrgetter
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from screener.build_info import register_build_info
from screener.observe import ENGINE_ERROR, INVALID_KIND, OUTPUT_REFUSED, BatchReport, Partition

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

KINDS = ("chat", "microblog")
DLQ_REASONS = (
    "bad_json", "bad_utf8", "not_object", "schema", "too_large", "too_deep", "empty",
    ENGINE_ERROR, OUTPUT_REFUSED,
)  # fmt: skip
"""The reason classes `parse_event` and the worker write; anything else counts as `other`."""
OTHER = "other"
RELOAD_RESULTS = ("success", "failure")

SCREEN_BATCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
SCREEN_EVENT_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
RESTORE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

_TOPIC = attrgetter("topic")


class Metrics:
    """Every metric one worker updates, registered in a registry of its own (no globals).

    The worker calls one method per thing that happened (`batch_finished`, `assigned`, …);
    nothing here knows about Kafka clients or the pipeline's types.
    """

    def __init__(
        self, *, registry: CollectorRegistry | None = None, worker: int = 0,
        input_topics: Sequence[str] = (), outputs: Mapping[str, str] | None = None,
        flush_interval: float = 0.25,
    ):  # fmt: skip
        self.registry = registry if registry is not None else CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        if not self.multiprocess:
            ProcessCollector(registry=self.registry)
            register_build_info(self.registry)
        self.worker = str(worker)
        self.outputs = dict(outputs or {})
        """output topic → role (`review`, `dlq`, `verdicts`)."""
        self._dlq_topics = {t for t, role in self.outputs.items() if role == "dlq"}
        r = self.registry

        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> PromCounter:
            return PromCounter(name, doc, labels, registry=r)

        def gauge(name: str, doc: str, labels: Sequence[str] = (), mode: str = "livesum") -> Gauge:
            return Gauge(name, doc, labels, registry=r, multiprocess_mode=mode)  # type: ignore[arg-type]

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, registry=r, buckets=buckets)

        self.consumed = counter(
            "screener_events_consumed", "Input records read, by topic and event kind "
            "(kind=invalid: not an event, sent to the DLQ).", ("topic", "kind"),
        )  # fmt: skip
        self.flagged = counter(
            "screener_events_flagged", "Events flagged for review or blocked, by top category "
            "and action.", ("category", "action"),
        )  # fmt: skip
        self.rule_hits = counter(
            "screener_rule_hits", "Findings per rule (every rule that fired on an event).",
            ("rule",),
        )  # fmt: skip
        self.shadow_hits = counter(
            "screener_shadow_hits", "Findings of shadow rules (`mode: shadow`): evaluated and "
            "recorded on audit verdicts, never acted on.", ("rule",),
        )  # fmt: skip
        self.dlq = counter(
            "screener_dlq_records", "Records sent to the DLQ, by reason class.", ("reason",)
        )
        self.produced = counter(
            "screener_produced_records", "Output records acknowledged by the broker, by output "
            "(review, dlq, verdicts).", ("output",),
        )  # fmt: skip
        self.produce_errors = counter(
            "screener_produce_errors", "Output records not acknowledged on an attempt (each is "
            "retried), by output.", ("output",),
        )  # fmt: skip
        self.produce_retries = counter(
            "screener_produce_retries", "Retry rounds: times a batch's unacknowledged output "
            "was sent again after a backoff.",
        )  # fmt: skip
        self.commits = counter("screener_commits", "Offset commits (or transactions) that worked.")
        self.commit_failures = counter(
            "screener_commit_failures", "Offset commits refused (e.g. partitions rebalanced "
            "away: the new owner re-reads those records) or transactions aborted (re-read).",
        )  # fmt: skip
        self.rebalances = counter(
            "screener_rebalances", "Partition assignments this worker received (one per "
            "consumer-group rebalance it took part in).",
        )  # fmt: skip
        self.reloads = counter(
            "screener_rules_reloads", "Rule pack reloads, by result (success, failure).",
            ("result",),
        )  # fmt: skip
        self.batch_seconds = histogram(
            "screener_batch_screening_seconds",
            "Time to screen one batch (decode, normalise, match, rules, output records).",
            SCREEN_BATCH_BUCKETS,
        )  # fmt: skip
        self.event_seconds = histogram(
            "screener_event_screening_seconds", "Screening time per event: each event of a "
            "batch counts the batch's time divided by its size.", SCREEN_EVENT_BUCKETS,
        )  # fmt: skip
        self.latency = histogram(
            "screener_end_to_end_latency_seconds", "From a record's Kafka timestamp to the "
            "broker's ack of its batch's review/DLQ output (for flagged events: the review "
            "item's ack).", LATENCY_BUCKETS,
        )  # fmt: skip
        self.batch_size = histogram(
            "screener_batch_size_records", "Records per batch.", BATCH_SIZE_BUCKETS
        )
        self.lag_gauge = gauge(
            "screener_consumer_lag_records", "Records behind per partition: high-water mark "
            "minus the consumer's position.", ("topic", "partition"),
        )  # fmt: skip
        self.inflight = gauge(
            "screener_inflight_records", "Records taken from Kafka and not yet finished "
            "(screened, output acknowledged, committed).",
        )  # fmt: skip
        self.assigned_partitions = gauge(
            "screener_assigned_partitions", "Input partitions assigned to the worker.", ("worker",)
        )
        self.connected_gauge = gauge(
            "screener_consumer_connected", "1 while the worker's consumer is connected to Kafka.",
            ("worker",),
        )  # fmt: skip
        self.connect_failures = counter(
            "screener_broker_connect_failures", "Failed attempts to reach the broker while "
            "starting (each is retried with backoff, until --connect-timeout-s).",
        )  # fmt: skip
        self.connect_attempts = gauge(
            "screener_broker_connect_attempts", "Failed attempts so far to reach the broker "
            "while starting; 0 once connected.", ("worker",),
        )  # fmt: skip
        self.up = gauge("screener_worker_up", "1 while the worker process runs.", ("worker",))
        self.ready_gauge = gauge(
            "screener_worker_ready", "1 while the worker has partitions and its output is "
            "acknowledged (refreshed every second).", ("worker",),
        )  # fmt: skip
        self.rules_info = gauge(
            "screener_rules_info", "1 for the rule pack version each worker uses (content hash).",
            ("worker", "version"), mode="livemax",
        )  # fmt: skip
        self.state_entries = gauge(
            "screener_state_entries", "Keys held in the worker's behaviour state (users and "
            "campaign signatures, over its partitions), after its last batch.", ("worker",),
        )  # fmt: skip
        self.state_evictions = counter(
            "screener_state_evictions", "Behaviour state keys evicted: the hard cap reached "
            "(least recently seen first) or expired (TTL in event time).",
        )  # fmt: skip
        self.state_restored_records = counter(
            "screener_state_restored_records", "Changelog records read to restore behaviour "
            "state (partitions assigned, or re-read after an aborted transaction).",
        )  # fmt: skip
        self.state_restore_seconds = histogram(
            "screener_state_restore_seconds", "Time to restore the behaviour state of the "
            "partitions newly taken, from their changelog, before screening them.",
            RESTORE_BUCKETS,
        )  # fmt: skip
        self.rules_loaded_at = gauge(
            "screener_rules_loaded_timestamp_seconds", "Unix time the rules in use were loaded.",
            mode="livemax",
        )  # fmt: skip

        # Known label values exist from the start (at 0): rates and alerts see series, not gaps.
        for topic in input_topics:
            for kind in (*KINDS, INVALID_KIND):
                self.consumed.labels(topic, kind)
        for reason in (*DLQ_REASONS, OTHER):
            self.dlq.labels(reason)
        for role in dict.fromkeys(self.outputs.values()):
            self.produced.labels(role)
            self.produce_errors.labels(role)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        self.up.labels(self.worker).set(1)
        self.connected_gauge.labels(self.worker).set(0)
        self.connect_attempts.labels(self.worker).set(0)
        self.ready_gauge.labels(self.worker).set(0)
        self.assigned_partitions.labels(self.worker).set(0)
        self.state_entries.labels(self.worker).set(0)

        self._children: dict[tuple[str, ...], Any] = {}
        self.flush_interval = flush_interval
        """batch facts are added up here and written to the metric values at most this often
        (and by `watch` every second): a scrape sees them at most that much later."""
        self._pending: dict[Any, float] = {}
        self._flushed_at = time.monotonic()
        self._rules_version: str | None = None
        self._lag_tps: set[tuple[str, int]] = set()

    @classmethod
    def for_settings(cls, settings: Any, worker: int = 0, **kwargs: Any) -> Metrics:
        """From the service's `Settings` (duck-typed: topics are all it reads)."""
        outputs = {settings.review_topic: "review", settings.dlq_topic: "dlq"}
        if settings.verdicts_topic:
            outputs[settings.verdicts_topic] = "verdicts"
        return cls(worker=worker, input_topics=settings.input_topics, outputs=outputs, **kwargs)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: `labels()` takes a lock and builds a key each time."""
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- rules ---------------------------------------------------------------------------------

    def rules_loaded(self, version: str, loaded_at: float | None = None, *,
                     reload: bool = False) -> None:  # fmt: skip
        previous = self._rules_version
        if previous is not None and previous != version:
            # 0 before removing: in multiprocess mode the files keep a removed label set
            self.rules_info.labels(self.worker, previous).set(0)
            self.rules_info.remove(self.worker, previous)
        self.rules_info.labels(self.worker, version).set(1)
        self.rules_loaded_at.set(time.time() if loaded_at is None else loaded_at)
        self._rules_version = version
        if reload:
            self._child(self.reloads, "success").inc()

    def rules_reload_failed(self) -> None:
        """A reload was refused (bad pack); the old rules stay in use."""
        self._child(self.reloads, "failure").inc()

    # -- consumer-group membership -------------------------------------------------------------

    def connected(self, flag: bool) -> None:
        self.connected_gauge.labels(self.worker).set(1 if flag else 0)
        if flag:
            self.connect_attempts.labels(self.worker).set(0)
        if not flag:
            self.assigned_partitions.labels(self.worker).set(0)
            self._clear_lag(set(self._lag_tps))

    def assigned(self, now_assigned: Set[Partition]) -> None:
        """Partitions were assigned; `now_assigned` is everything the worker now owns."""
        self.rebalances.inc()
        self.assigned_partitions.labels(self.worker).set(len(now_assigned))

    def revoked(self, revoked: Set[Partition], still_assigned: Set[Partition]) -> None:
        self._clear_lag(set(revoked))
        self.assigned_partitions.labels(self.worker).set(len(still_assigned))

    def _clear_lag(self, tps: set[tuple[str, int]]) -> None:
        # Set to 0 before removing: in multiprocess mode the files keep a removed label set.
        for topic, partition in tps & self._lag_tps:
            self.lag_gauge.labels(topic, str(partition)).set(0)
            self.lag_gauge.remove(topic, str(partition))
            self._children.pop((self.lag_gauge._name, topic, str(partition)), None)
        self._lag_tps -= tps

    def lag(self, per_partition: Mapping[Partition, int]) -> None:
        """Records behind per partition, as the pipeline measured them."""
        for (topic, partition), behind in per_partition.items():
            self._child(self.lag_gauge, topic, str(partition)).set(behind)
            self._lag_tps.add((topic, partition))

    def ready(self, flag: bool) -> None:
        self.ready_gauge.labels(self.worker).set(1 if flag else 0)

    def connecting(self, attempt: int, error: str) -> None:
        """An attempt to reach the broker failed (the worker retries with backoff)."""
        self.connect_failures.inc()
        self.connect_attempts.labels(self.worker).set(attempt)

    def tick(self) -> None:
        self.flush()

    def state_restored(self, partitions: int, records: int, seconds: float) -> None:
        """Partitions' state rebuilt from their changelogs before their first batch."""
        self.state_restored_records.inc(records)
        self.state_restore_seconds.observe(seconds)

    # -- batches -------------------------------------------------------------------------------

    def batch_started(self, records: int) -> None:
        self.inflight.set(records)

    def batch_finished(self, report: BatchReport) -> None:
        """Account one finished batch: its output acknowledged at `report.acked_at`.

        Work is per label set and per batch (the report is already counted); the latency
        histogram takes the batch's timestamps in one pass (see `screener.measure.metrics_bench`).
        """
        n = report.records
        self.inflight.set(0)
        (self.commits if report.committed else self.commit_failures).inc()
        if report.state_entries is not None:
            self._child(self.state_entries, self.worker).set(report.state_entries)
            if report.state_evictions:
                self._add(self.state_evictions, report.state_evictions)
        if not n:
            return
        add, child = self._add, self._child
        for (topic, kind), count in report.consumed.items():
            add(child(self.consumed, topic, kind), count)
        for (category, action), count in report.flagged.items():
            add(child(self.flagged, category or OTHER, action), count)
        for rule, count in report.rule_hits.items():
            add(child(self.rule_hits, rule), count)
        for rule, count in report.shadow_hits.items():
            add(child(self.shadow_hits, rule), count)
        for topic, count in report.produced.items():
            add(child(self.produced, self.outputs.get(topic, OTHER)), count)
        for reason, count in report.dlq_reasons.items():
            add(child(self.dlq, reason if reason in DLQ_REASONS else OTHER), count)
        screen_seconds = report.screen_seconds
        _observe_same(add, self.batch_seconds, screen_seconds, 1)
        _observe_same(add, self.event_seconds, screen_seconds / n, n)
        _observe_same(add, self.batch_size, n, 1)
        _observe_latencies(add, self.latency, report.timestamps_ms, report.acked_at)
        if time.monotonic() - self._flushed_at >= self.flush_interval:
            self.flush()

    def batch_aborted(self) -> None:
        """A transaction was aborted: nothing of the batch is committed, it is read again."""
        self.commit_failures.inc()

    def _add(self, target: Any, amount: float) -> None:
        """Count `amount` into a metric child or histogram value, at the next `flush`."""
        self._pending[target] = self._pending.get(target, 0) + amount

    def flush(self) -> None:
        """Write what batches added up into the metric values: one `inc` per label set."""
        pending, self._pending = self._pending, {}
        for target, amount in pending.items():
            target.inc(amount)
        self._flushed_at = time.monotonic()

    # -- Kafka I/O outcomes --------------------------------------------------------------------

    def produce_failed(self, unacknowledged: Mapping[str, int]) -> None:
        """Some output was not acknowledged and is about to be retried (topic → records)."""
        for topic, count in unacknowledged.items():
            self._child(self.produce_errors, self.outputs.get(topic, OTHER)).inc(count)
        self.produce_retries.inc()


Add = Callable[[Any, float], None]


def _observe_same(add: Add, histogram: Histogram, value: float, times: int) -> None:
    """`times` observations of `value` in one update."""
    child: Any = histogram
    add(child._buckets[bisect_left(child._upper_bounds, value)], times)
    add(child._sum, value * times)


def _observe_latencies(add: Add, histogram: Histogram, stamps_ms: list[int], now: float) -> None:
    """Observe `now - t/1000` (at least 0) for every Kafka timestamp `t` > 0 (a record without
    one has no latency), with one update per bucket instead of a Python call per value.

    Sorted timestamps give every bucket by bisection: latency <= bound exactly when
    t >= (now - bound) * 1000. prometheus-client keeps per-bucket (non-cumulative) counts in
    `_buckets` and the total in `_sum` (exposition accumulates them); a unit test pins this
    against one `observe()` per value.
    """
    stamps = sorted(stamps_ms)  # per-partition runs are already in order: nearly linear
    if stamps and stamps[0] <= 0:
        stamps = stamps[bisect_right(stamps, 0) :]
    if not stamps:
        return
    child: Any = histogram
    n = len(stamps)
    below = 0  # observations counted in the buckets so far
    for value, bound in zip(child._buckets, child._upper_bounds, strict=True):
        within = n - bisect_left(stamps, (now - bound) * 1000) if bound != INF else n
        if within > below:
            add(value, within - below)
            below = within
    past = bisect_right(stamps, now * 1000)  # later ones: clocks ahead of ours, latency 0
    total = sum(stamps) if past == n else sum(stamps[:past])
    add(child._sum, past * now - total / 1000)


# -- readiness ---------------------------------------------------------------------------------


def readiness(registry: CollectorRegistry, workers: Iterable[int]) -> tuple[bool, str]:
    """Ready when rules are loaded, every expected worker runs with a connected consumer, the
    group gave these workers at least one partition, and every worker that has partitions
    gets its output acknowledged. With more workers than partitions the idle ones do not make
    the service unready. The reason ends with the rules version each worker runs (after a
    reload, which workers have it). Computed from the exposed samples, so it means the same
    with one worker or N (multiprocess) and agrees with what a scrape shows."""
    names = ("screener_worker_up", "screener_consumer_connected", "screener_worker_ready",
             "screener_assigned_partitions", "screener_broker_connect_attempts")  # fmt: skip
    values: dict[str, defaultdict[str, float]] = {name: defaultdict(float) for name in names}
    versions: dict[str, str] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name in values:
                values[sample.name][sample.labels.get("worker", "")] += sample.value
            elif sample.name == "screener_rules_info" and sample.value >= 1:
                versions[sample.labels.get("worker", "")] = sample.labels.get("version", "?")
    up, connected, ready, assigned, attempts = (values[name] for name in names)
    problems = [] if versions else ["no rules loaded"]
    for w in map(str, workers):
        if up[w] < 1:
            problems.append(f"worker {w} not running")
        elif connected[w] < 1 and attempts[w] >= 1:
            problems.append(f"worker {w} waiting for Kafka ({attempts[w]:.0f} failed attempts)")
        elif connected[w] < 1:
            problems.append(f"worker {w} not connected to Kafka")
        elif assigned[w] >= 1 and ready[w] < 1:
            problems.append(f"worker {w} not ready (output not acknowledged)")
    if sum(assigned.values()) < 1:
        problems.append("no partitions assigned")
    running = [f"worker {w} rules {v}" for w, v in sorted(versions.items())]
    return (not problems, "; ".join([*(problems or ["ready"]), *running]))


def serving_registry(metrics: Metrics) -> CollectorRegistry:
    """What one standalone worker serves: its own registry, or the merged files when the
    environment asks for multiprocess mode."""
    if not metrics.multiprocess:
        return metrics.registry
    registry = register_build_info(CollectorRegistry())
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


# -- the supervisor's side of multiprocess mode --------------------------------------------------


class WorkerPoolMetrics(Collector):
    """Owned by the supervisor: the shared directory, dead workers' cleanup, the merged view.

    Uses `$PROMETHEUS_MULTIPROC_DIR` when set (stale files from an earlier run are removed),
    else a private temporary directory removed on `close()`. The supervisor's own numbers
    (worker restarts) are served by this collector, not by prometheus-client value objects,
    so they are never written to, and counted again from, the shared files.
    """

    def __init__(self, workers: int, directory: str | None = None):
        self.workers = workers
        configured = directory or os.environ.get(MULTIPROC_ENV)
        self._owned = not configured
        self.directory = configured or tempfile.mkdtemp(prefix="screener-metrics-")
        os.makedirs(self.directory, exist_ok=True)
        for stale in glob.glob(os.path.join(self.directory, "*.db")):
            os.remove(stale)
        self.restarts = 0
        self.registry = register_build_info(CollectorRegistry())
        MultiProcessCollector(self.registry, path=self.directory)  # type: ignore[no-untyped-call]
        self.registry.register(self)

    def child_env(self) -> dict[str, str]:
        return {MULTIPROC_ENV: self.directory}

    def worker_exited(self, pid: int) -> None:
        mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]

    def worker_restarted(self) -> None:
        self.restarts += 1

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "screener_worker_restarts", "Worker processes restarted by the supervisor after "
            "they died.", value=self.restarts,
        )  # fmt: skip

    def readiness(self) -> tuple[bool, str]:
        return readiness(self.registry, range(self.workers))

    def close(self) -> None:
        if self._owned:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.directory)

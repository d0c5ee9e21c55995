"""`screener_build_info{version,python}`: which build answers a scrape.

A constant collector rather than a gauge: it is the same in every process, so under
prometheus-client multiprocess mode it is served by whoever owns the registry (one worker, or
the supervisor) instead of being written to, and summed from, every worker's files.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from screener import __version__


class BuildInfo(Collector):
    """1, labelled with the package version and the Python version running it."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "screener_build_info", "1, labelled with the screener and Python versions.",
            labels=("version", "python"),
        )  # fmt: skip
        family.add_metric([__version__, platform.python_version()], 1)
        yield family


def register_build_info(registry: CollectorRegistry) -> CollectorRegistry:
    """Add the build info to `registry` (returned, for chaining)."""
    registry.register(BuildInfo())
    return registry

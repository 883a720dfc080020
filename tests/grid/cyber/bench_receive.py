"""The hub's cost per received report: ``PYTHONPATH=$PWD python -m tests.grid.cyber.bench_receive [N]``.

Times :meth:`CyberExchange.receive` (size, marking and pattern checks, stix2 parse, dedup key,
then the exchange's new/sighting/duplicate step) over N prepared JSON reports: N/5 observables,
each reported by the 5 members in noisy forms (1 new, 4 sightings), then N/5 duplicates.
"""

from __future__ import annotations

import statistics
import sys
import time

from grid.cyber.exchange import CyberExchange
from grid.world.events import ObservableType
from tests.grid.cyber.cyber_reports import EPOCH, MEMBERS, report

_NOISE = (
    "http://evil{i}.example/login",
    "HTTP://EVIL{i}.EXAMPLE/login/",
    "hxxp://evil{i}[.]example/login",
    "http://evil{i}.example:80/login",
    "http://Evil{i}.Example/login/",
)


def main(n: int) -> None:
    """Print the median and mean µs per report of each outcome kind."""
    reports = [
        report(member, ObservableType.URL, form.format(i=i), float(i))
        for i in range(n // 5)
        for member, form in zip(MEMBERS, _NOISE, strict=True)
    ]
    reports += reports[::5][: n // 5]
    exchange = CyberExchange(MEMBERS, EPOCH)
    costs: dict[str, list[float]] = {}
    for t, raw in enumerate(reports):
        start = time.perf_counter_ns()
        outcome = exchange.receive(float(t), raw).kind
        costs.setdefault(outcome, []).append((time.perf_counter_ns() - start) / 1000)
    every = [c for values in costs.values() for c in values]
    for kind, values in [*costs.items(), ("all", every)]:
        print(
            f"{kind:10s} n={len(values):6d}  median {statistics.median(values):7.0f} µs"
            f"  mean {statistics.fmean(values):7.0f} µs"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

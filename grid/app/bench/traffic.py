"""What the MQTT benches publish and when: bench nodes, their reports, raw payloads and pacing.

Shared by ``gridsim bench latency`` (:mod:`grid.app.bench.latency`) and ``gridsim bench scale``
(:mod:`grid.app.bench.scale`), so both drive the same report, the same same-size raw payload and
the same publishing schedule.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

from grid.wire.messages import SensorScan, ThreatReport
from grid.world.roster import MemberState, Roster

__all__ = ["RAW_HEADER", "Stamps", "bench_members", "bench_scan", "pace", "phase_problems", "raw_payload"]

RAW_HEADER = struct.Struct("<QII")  # sent_ns, node index, sequence number

# (key, ns) pairs: what was published when, what was received when.
Stamps = list[tuple[str, int]]


def phase_problems(*, qos: int, duration_s: float, warmup_s: float) -> list[str]:
    """What is wrong with a bench's QoS and phase lengths, one sentence per option."""
    problems = []
    if qos not in (0, 1, 2):
        problems.append(f"--qos must be 0, 1 or 2, got {qos}")
    if duration_s <= 0:
        problems.append(f"--duration must be positive, got {duration_s:g}")
    if warmup_s < 0:
        problems.append(f"--warmup must not be negative, got {warmup_s:g}")
    return problems


def bench_members(roster: Roster, count: int) -> list[MemberState]:
    """``count`` members: the roster's, then copies of them under generated ids ``B016``, ``B017`` ..."""
    members = [roster[node_id] for node_id in roster]
    out = members[:count]
    for i in range(len(out), count):
        out.append(members[i % len(members)].model_copy(update={"id": f"B{i + 1:03d}"}))
    return out


def bench_scan(member: MemberState, seq: int, *, run_id: str = "bench-latency") -> SensorScan:
    """The ``seq``-th scan ``member``'s first sensor shares: one realistic report, as a node sends it."""
    sensor = member.sensors[0]
    site = sensor.site if sensor.site is not None else (sensor.orbit.center if sensor.orbit else None)
    lat, lon, alt = (site.lat, site.lon, site.alt_m) if site is not None else (0.0, 0.0, 0.0)
    report = ThreatReport(
        run_id=run_id,
        sensor_id=sensor.id,
        sensor_kind=sensor.kind.value,
        sensor_lat=lat,
        sensor_lon=lon,
        sensor_alt_m=alt,
        time_s=seq * 0.1,
        bearing_deg=(37.0 * seq) % 360,
        sigma_bearing_deg=sensor.sigma_bearing_deg,
        range_m=12_345.0,
        sigma_range_m=sensor.sigma_range_m or 50.0,
        max_range_m=sensor.range_m,
        truth_id="T1",
    )
    return SensorScan(run_id=run_id, reports=(report,))


def raw_payload(sent_ns: int, index: int, seq: int, size: int) -> bytes:
    """A baseline payload of ``size`` bytes (at least the header): the stamp, sender and sequence first."""
    return RAW_HEADER.pack(sent_ns, index, seq) + b"\0" * max(0, size - RAW_HEADER.size)


async def pace(
    *,
    start: float,
    end: float,
    period: float,
    send: Callable[[int], Awaitable[None]],
) -> None:
    """Call ``send(k)`` at ``start + k * period`` (event-loop time) until ``end``; late calls catch up."""
    loop = asyncio.get_running_loop()
    k = 0
    while (at := start + k * period) < end:
        if (delay := at - loop.time()) > 0:
            await asyncio.sleep(delay)
        await send(k)
        k += 1

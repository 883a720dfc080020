"""``gridsim bench codec``: µs to encode, decode and validate one report and one track envelope.

Columns: the production codec (:mod:`grid.wire.messages`: msgspec Structs, validated while
decoding), plain msgpack-python without validation and stdlib ``json`` of the same map, neither
of which validates. Each sample times ``inner`` calls with ``time.perf_counter_ns``; medians and
p95 are over ``repeats`` samples.

With ``--signed`` a ``signed`` column is added: production plus an Ed25519 signature
(:mod:`grid.security.signing`), encode = encode + sign, decode = verify + decode + validate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import msgpack
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from grid.app.bench.progress import bench_progress
from grid.app.bench.targets import Target
from grid.app.parser import BENCH_CODEC_OUT_NAME
from grid.errors import ConfigError
from grid.security.signing import Signer, Verifier
from grid.wire.messages import Envelope, FusedTrack, ThreatReport

__all__ = [
    "CODECS",
    "REPORT_TARGET_US",
    "codec_targets",
    "report_envelope",
    "run_codec",
    "run_codec_bench",
    "track_envelope",
]

REPORT_TARGET_US = 5.0  # issue 9: encode, decode and validate a report
CODECS = ("production", "msgpack", "json")


def report_envelope(rng: random.Random) -> Envelope:
    """A radar report as a node publishes it: every optional field present."""
    return Envelope(
        body=ThreatReport(
            run_id="run-20261202-220000",
            sensor_id="RO-RAD-CAPE-MIDIA",
            sensor_kind="radar",
            sensor_lat=44.355,
            sensor_lon=28.68,
            sensor_alt_m=30.0,
            time_s=rng.uniform(0, 600),
            bearing_deg=rng.uniform(0, 360),
            sigma_bearing_deg=0.4,
            range_m=rng.uniform(1e3, 1.5e5),
            sigma_range_m=30.0,
            elevation_deg=rng.uniform(0, 10),
            sigma_elevation_deg=0.8,
            max_range_m=150_000.0,
            truth_id="uav-1",
        ),
        origin="RO",
        sent_ns=1_764_712_800_000_000_000,
    )


def track_envelope(rng: random.Random) -> Envelope:
    """A confirmed fused track with its 4x4 covariance, as the fusion centre publishes it."""
    cov = [[rng.uniform(-50, 50) for _ in range(4)] for _ in range(4)]
    return Envelope(
        body=FusedTrack(
            run_id="run-20261202-220000",
            track_id="T17",
            status="confirmed",
            time_s=rng.uniform(0, 600),
            lat=44.2,
            lon=28.8,
            alt_m=300.0,
            east_m=rng.uniform(-1e5, 1e5),
            north_m=rng.uniform(-1e5, 1e5),
            vel_east_mps=-50.0,
            vel_north_mps=-20.0,
            covariance=tuple(
                sum(cov[i][k] * cov[j][k] for k in range(4)) for i in range(4) for j in range(4)
            ),
            node_ids=("RO", "BG", "PL"),
            truth_ids=("uav-1",),
            updates=42,
        ),
        origin="fusion",
        sent_ns=1_764_712_800_000_000_000,
    )


def _as_map(env: Envelope) -> dict[str, Any]:
    """The envelope as the plain map the wire carries (tuples as lists)."""
    body = {k: list(v) if isinstance(v, tuple) else v for k, v in msgspec.to_builtins(env.body).items()}
    return {
        "v": env.schema,
        "id": env.msg_id,
        "origin": env.origin,
        "sent_ns": env.sent_ns,
        "type": env.body.TYPE,
        "body": body,
    }


def _time_us(op: Callable[[], object], *, repeats: int, inner: int, warmup: int) -> dict[str, float]:
    """Median and p95 µs per call of ``op`` over ``repeats`` samples of ``inner`` calls each."""
    for _ in range(warmup):
        op()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(inner):
            op()
        samples.append((time.perf_counter_ns() - start) / inner / 1000)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 3),
        "p95_us": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 3),
    }


def _signed_operations(env: Envelope) -> tuple[Callable[[], object], Callable[[], object]]:
    """Encode and sign, verify and decode: what a signing node and a verifying receiver do per message."""
    key = Ed25519PrivateKey.generate()
    signer = Signer(env.origin, key)
    verifier = Verifier({env.origin: key.public_key()}, shared=False)  # each call verifies
    sealed = signer.seal(env.to_bytes())

    def decode() -> object:
        payload, _ = verifier.open(sealed, env.origin)
        return Envelope._decode(payload)

    return (lambda: signer.seal(env.to_bytes()), decode)


def _operations(
    env: Envelope, *, signed: bool = False
) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """Per codec, its (encode, decode) of ``env``; only production's (and signed's) decode validates."""
    data = env.to_bytes()
    raw = _as_map(env)
    if msgpack.unpackb(data) != raw:  # pragma: no cover - the comparisons would time another map
        raise AssertionError("the plain map differs from the production encoding")
    text = json.dumps(raw)
    return {
        # _decode is from_bytes without its cache of shared envelopes: every call validates.
        "production": (env.to_bytes, lambda: Envelope._decode(data)),
        "msgpack": (lambda: msgpack.packb(raw, use_bin_type=True), lambda: msgpack.unpackb(data, raw=False)),
        "json": (lambda: json.dumps(raw), lambda: json.loads(text)),
        **({"signed": _signed_operations(env)} if signed else {}),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_codec(
    *, repeats: int, inner: int, seed: int, signed: bool = False, on_step: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Time every codec on a report and a track envelope; the results file's map.

    ``on_step`` is called with what was timed after each of the ``4 * codecs`` timings (progress).
    """
    rng = random.Random(seed)
    warmup = max(100, repeats // 10)
    messages: dict[str, Any] = {}
    for name, env in (("report", report_envelope(rng)), ("track", track_envelope(rng))):
        codecs: dict[str, Any] = {}
        for codec, (enc, dec) in _operations(env, signed=signed).items():
            encode = _time_us(enc, repeats=repeats, inner=inner, warmup=warmup)
            if on_step is not None:
                on_step(f"{name}, {codec}: encode")
            decode = _time_us(dec, repeats=repeats, inner=inner, warmup=warmup)
            if on_step is not None:
                on_step(f"{name}, {codec}: decode")
            codecs[codec] = {
                "encode": encode,
                "decode": decode,
                "round_trip_median_us": round(encode["median_us"] + decode["median_us"], 3),
                "validates": codec in ("production", "signed"),
            }
        messages[name] = {"bytes": len(env.to_bytes()), "codecs": codecs}
        if signed:
            messages[name]["signed_bytes"] = len(
                Signer(env.origin, Ed25519PrivateKey.generate()).seal(env.to_bytes())
            )
    report = messages["report"]["codecs"]
    ratio = round(report["production"]["round_trip_median_us"] / report["json"]["round_trip_median_us"], 3)
    return {
        "config": {
            "repeats": repeats,
            "inner": inner,
            "warmup": warmup,
            "seed": seed,
            **({"signed": True} if signed else {}),
        },
        "versions": {
            "python": platform.python_version(),
            "msgpack": _version("msgpack"),
            "msgspec": _version("msgspec"),
            **({"cryptography": _version("cryptography")} if signed else {}),
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "implementation": sys.implementation.name,
        },
        "messages": messages,
        "production_over_json_report": ratio,
    }


def codec_targets(results: dict[str, Any]) -> list[Target]:
    """The issue's target: a report encoded, decoded and validated (production) in at most 5 µs."""
    value = results["messages"]["report"]["codecs"]["production"]["round_trip_median_us"]
    return [
        Target("report", "encode + decode + validate, µs (median)", value, REPORT_TARGET_US, at_most=True)
    ]


def run_codec_bench(args: argparse.Namespace) -> int:
    """Run ``bench codec``; a FAIL is printed, never an error exit (timings depend on the machine)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.table import Table

    if args.repeats < 1 or args.inner < 1:
        raise ConfigError("--repeats and --inner must be at least 1")
    signed = bool(getattr(args, "signed", False))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with bench_progress(args, Console(stderr=True), *columns, auto_refresh=False) as progress:
        task = progress.add_task("bench codec", total=4 * (len(CODECS) + signed))

        def step(what: str) -> None:
            progress.update(task, advance=1, description=f"bench codec: {what}", refresh=True)

        results = run_codec(
            repeats=args.repeats, inner=args.inner, seed=args.seed, signed=signed, on_step=step
        )
    table = Table(title="gridsim bench codec (µs per operation, median / p95)")
    table.add_column("message, operation")
    present = [*CODECS, "signed"] if signed else list(CODECS)
    for codec in present:
        table.add_column(codec, justify="right")
    for name, message in results["messages"].items():
        for op in ("encode", "decode"):
            label = f"{name} ({message['bytes']} B), {op}" + (" + validate" if op == "decode" else "")
            cells = [message["codecs"][c][op] for c in present]
            table.add_row(label, *(f"{t['median_us']:.2f} / {t['p95_us']:.2f}" for t in cells))
        table.add_row(
            f"{name}, round trip (median)",
            *(f"{message['codecs'][c]['round_trip_median_us']:.2f}" for c in present),
        )
    console = Console()
    console.print(table)
    console.print("production (msgspec Structs) validates on decode; msgpack and json do not.")
    if signed:
        console.print(
            "signed: production + Ed25519 (encode = encode + sign, decode = verify + decode + validate); "
            + ", ".join(f"{n} {m['bytes']} -> {m['signed_bytes']} B" for n, m in results["messages"].items())
        )
    console.print(f"production / json, report round trip: {results['production_over_json_report']:.3f}")
    targets = codec_targets(results)
    results["targets"] = [t.to_dict() for t in targets]
    for t in targets:
        verdict = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a[/yellow]"}[
            t.passed
        ]
        console.print(f"{verdict} {t.case}: {t.name} = {t.value} <= {t.limit:g}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{BENCH_CODEC_OUT_NAME}.json"
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        if not getattr(args, "quiet", False):
            Console(stderr=True).print(f"results written to {path}")
    return 0

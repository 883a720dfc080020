"""A real three-member RabbitMQ cluster on loopback, with its MQTT plugin, for tests and figures.

Each member is Debian's ``rabbitmq-server`` (3.10) in its own process group: node name
``rabbitN@localhost``, its own AMQP, MQTT and distribution ports, its own data and log folders
under one temporary folder, and one Erlang cookie (a shared ``HOME``). The cluster's own ``epmd``
runs on a free port as our child, so nothing outlives the cluster. MQTT durable queues are quorum
queues: a persistent client whose member dies can then resume its session on another member
(with classic queues it cannot, and acknowledged messages were lost).

``python -m tests.rabbitmq --play [--kill-member 3 --kill-at 60]`` brings a cluster up, plays the
default scenario on it with ``gridsim run --broker-kind rabbitmq`` (optionally killing a member
mid-run) and prints the summary's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grid.mqtt.address import LOOPBACK, port_in_use
from grid.mqtt.session import Session
from grid.wire import topics
from grid.wire.messages import Envelope, RunAction, RunControl

__all__ = ["Cluster", "Member", "rabbitmq_available", "rabbitmq_cluster"]

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
_READY_TIMEOUT_S = 120.0  # a loaded 2-core machine; about 10 s when idle
_STOP_GRACE_S = 30.0
_ATTEMPTS = 2

_CONF = """\
listeners.tcp.default = {host}:{amqp}
mqtt.listeners.tcp.default = {host}:{mqtt}
mqtt.allow_anonymous = true
mqtt.durable_queue_type = quorum
tcp_listen_options.nodelay = true
mqtt.tcp_listen_options.nodelay = true
loopback_users = none
log.console = false
log.file.level = info
"""


def _listen_port(taken: set[int]) -> int:
    """A free loopback port below the ephemeral range (32768-60999 on Linux).

    A port the kernel hands out (bind to 0) is in that range, where every outgoing connection,
    rabbitmqctl's and Erlang's own included, also takes its source port: one was seen taking an
    AMQP port between our pick and the member's bind (eaddrinuse, boot failed).
    """
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 32768)
        if port not in taken and not port_in_use(LOOPBACK, port):
            taken.add(port)
            return port


def rabbitmq_available() -> bool:
    """Whether Debian's rabbitmq-server is installed here."""
    return SERVER.exists() and CTL.exists() and shutil.which("epmd") is not None


@dataclass
class Member:
    """One member of the cluster."""

    index: int
    mqtt_port: int
    amqp_port: int
    dist_port: int
    base: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The Erlang node name, ``rabbitN@localhost``."""
        return f"rabbit{self.index}@localhost"

    @property
    def url(self) -> str:
        """Its MQTT listener as ``mqtt://127.0.0.1:port``."""
        return f"mqtt://{LOOPBACK}:{self.mqtt_port}"

    @property
    def running(self) -> bool:
        """Whether its server process is alive."""
        return self.process is not None and self.process.poll() is None


class Cluster:
    """A cluster's members and the environment its tools need; see :func:`rabbitmq_cluster`."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = root
        self.home = root / "home"
        taken: set[int] = set()
        self.epmd_port = _listen_port(taken)
        self.members = [
            Member(
                index=k,
                mqtt_port=_listen_port(taken),
                amqp_port=_listen_port(taken),
                dist_port=_listen_port(taken),
                base=root / f"rabbit{k}",
            )
            for k in range(1, size + 1)
        ]
        self.epmd: subprocess.Popen[bytes] | None = None
        self.bring_up_s = 0.0

    @property
    def urls(self) -> list[str]:
        """Every member's MQTT URL, in member order."""
        return [m.url for m in self.members]

    def env(self, member: Member) -> dict[str, str]:
        """The environment of ``member``'s server and of rabbitmqctl talking to it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.home),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS=LOOPBACK,
            RABBITMQ_NODENAME=member.name,
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(member.amqp_port),
            RABBITMQ_DIST_PORT=str(member.dist_port),
            RABBITMQ_CONFIG_FILE=str(member.base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(member.base / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(member.base / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(member.base / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(member.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(member.base / "log"),
            RABBITMQ_PID_FILE=str(member.base / "rabbit.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    def ctl(self, member: Member, *args: str, timeout_s: float = 120.0) -> str:
        """``rabbitmqctl -n <member> ARGS``; raises RuntimeError with its output when it fails."""
        done = subprocess.run(
            [str(CTL), "-n", member.name, *args],
            env=self.env(member),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        out = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {member.name} failed:\n{out}")
        return out

    def _write_files(self) -> None:
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(os.urandom(16).hex().upper())
        cookie.chmod(0o400)
        for m in self.members:
            (m.base / "log").mkdir(parents=True)
            (m.base / "mnesia").mkdir()
            (m.base / "rabbitmq.conf").write_text(
                _CONF.format(host=LOOPBACK, amqp=m.amqp_port, mqtt=m.mqtt_port)
            )
            (m.base / "advanced.config").write_text("[].\n")
            (m.base / "rabbitmq-env.conf").write_text("")
            # What `rabbitmq-plugins --offline enable rabbitmq_mqtt` writes, without starting a VM.
            (m.base / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")

    def start_member(self, member: Member) -> None:
        """Start ``member``'s server (not waiting for it)."""
        log = (member.base / "log" / "server.out").open("ab")
        member.process = subprocess.Popen(
            [str(SERVER)],
            env=self.env(member),
            cwd=member.base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped (or killed) as a whole
        )
        log.close()

    def await_member(self, member: Member) -> None:
        """Wait until ``member`` runs RabbitMQ."""
        # `wait` waits for the pid file to appear, then for the app (await_startup fails at once
        # while the node is not yet registered with epmd).
        self.ctl(
            member,
            "wait",
            str(member.base / "rabbit.pid"),
            "--timeout",
            str(int(_READY_TIMEOUT_S)),
            timeout_s=_READY_TIMEOUT_S + 10,
        )

    def start(self) -> None:
        """Bring the cluster up: every member started, joined to the first, all feature flags on."""
        began = time.monotonic()
        self._write_files()
        self.epmd = subprocess.Popen(
            ["epmd", "-port", str(self.epmd_port), "-address", LOOPBACK],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for m in self.members:
            self.start_member(m)
        first, *others = self.members
        for m in self.members:
            self.await_member(m)
        for m in others:
            self.ctl(m, "stop_app")
            self.ctl(m, "join_cluster", first.name)
            self.ctl(m, "start_app")
        # Quorum queues for MQTT need the 3.10 feature flags, which a fresh member may not have on.
        self.ctl(first, "enable_feature_flag", "all")
        self.bring_up_s = time.monotonic() - began

    def kill_member(self, member: Member) -> None:
        """Kill ``member`` at once (SIGKILL to its process group), as a crashed host would."""
        if member.process is not None and member.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(member.process.pid, signal.SIGKILL)
            member.process.wait()

    def stop_member(self, member: Member) -> None:
        """Stop ``member`` (SIGTERM, then SIGKILL after a grace period) and reap it."""
        proc = member.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(_STOP_GRACE_S)
        # The VM's own children (erl_child_setup, inet_gethost) share its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        """Stop every member, in parallel, and then epmd."""
        threads = [threading.Thread(target=self.stop_member, args=(m,)) for m in self.members]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.epmd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.epmd.pid, signal.SIGKILL)
            self.epmd.wait()

    def logs(self) -> str:
        """The tail of every member's log, for a failure message."""
        parts = []
        for m in self.members:
            for f in sorted((m.base / "log").glob("*")):
                text = f.read_text(errors="replace")[-3000:]
                parts.append(f"--- {m.name} {f.name}\n{text}")
        return "\n".join(parts)


@contextlib.contextmanager
def rabbitmq_cluster(size: int = 3) -> Iterator[Cluster]:
    """A running cluster of ``size`` members; stopped and its folder removed on exit, even on failure."""
    for attempt in range(_ATTEMPTS):
        root = Path(tempfile.mkdtemp(prefix="gridsim-rabbitmq-"))
        cluster = Cluster(root, size)
        try:
            try:
                cluster.start()
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                if attempt < _ATTEMPTS - 1:
                    # A port taken meanwhile by another process; a second set of ports serves.
                    print(f"RabbitMQ cluster did not come up ({exc}); trying again", file=sys.stderr)
                    continue
                raise RuntimeError(f"RabbitMQ cluster did not come up: {exc}\n{cluster.logs()}") from exc
            yield cluster
            return
        finally:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)


async def _run_epoch(member: Member) -> int:
    """The wall clock (ns) of simulation time 0 of the run announced on the cluster."""
    client = Session(host=LOOPBACK, port=member.mqtt_port, client_id="gridsim-rabbitmq-play")
    async with asyncio.timeout(300), client:  # the grid comes online well within this
        await client.subscribe(topics.CONTROL)  # exact: RabbitMQ serves retained messages only so
        async for received in client.messages():
            if received.payload:
                body = Envelope.from_bytes(received.payload).body
                if isinstance(body, RunControl) and body.action is RunAction.START:
                    return body.epoch_ns
    raise RuntimeError("no run was announced")


def _play(cluster: Cluster, args: argparse.Namespace) -> int:
    out = Path(tempfile.mkdtemp(prefix="gridsim-rabbitmq-run-"))
    scenario = [args.scenario] if args.scenario else []
    urls = ",".join(cluster.urls)
    verbose = ["-v"] if args.verbose else []
    cmd = [sys.executable, "-m", "grid", *verbose, "run", *scenario, "--speed", str(args.speed), "--quiet"]
    cmd += ["--broker-kind", "rabbitmq", "--broker", urls, "--out", str(out)]
    print("$", " ".join(cmd), flush=True)
    run = subprocess.Popen(cmd)
    try:
        return _follow(cluster, args, run, out)
    finally:
        if run.poll() is None:  # interrupted: gridsim stops on SIGTERM as on Ctrl-C
            run.terminate()
            run.wait()


def _follow(cluster: Cluster, args: argparse.Namespace, run: subprocess.Popen[bytes], out: Path) -> int:
    if args.kill_member:
        victim = cluster.members[args.kill_member - 1]
        epoch_ns = asyncio.run(_run_epoch(cluster.members[0]))
        kill_ns = epoch_ns + int(args.kill_at / args.speed * 1e9)
        while run.poll() is None and time.time_ns() < kill_ns:
            time.sleep(0.05)
        print(
            f"killing {victim.name} at sim {(time.time_ns() - epoch_ns) / 1e9 * args.speed:.1f} s", flush=True
        )
        cluster.kill_member(victim)
    rc = run.wait()
    summary_file = out / "summary.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
        keys = ("threats", "latency_ms", "messages", "cluster", "missing_accounts", "warnings", "wall_time_s")
        print(json.dumps({k: summary.get(k) for k in keys}, indent=1))
        print(f"summary: {summary_file}")
    return rc


def main(argv: Sequence[str] | None = None) -> int:
    """Bring a cluster up (and play a scenario on it); the cluster is stopped on exit."""
    parser = argparse.ArgumentParser(prog="python -m tests.rabbitmq", description=__doc__.split("\n\n")[0])
    parser.add_argument("--play", action="store_true", help="play a scenario on the cluster")
    parser.add_argument("--scenario", default=None, help="scenario file (default: the bundled default)")
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--kill-member", type=int, default=0, help="kill this member (1-3) mid-run")
    parser.add_argument("--kill-at", type=float, default=60.0, help="simulation second to kill it at")
    parser.add_argument("--verbose", action="store_true", help="gridsim run -v: workers log their failovers")
    args = parser.parse_args(argv)
    # Explicit handlers: started with `&` from a script, SIGINT arrives ignored; SIGTERM's default
    # would leave the members running. Either now unwinds through rabbitmq_cluster, which stops them.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        with rabbitmq_cluster() as cluster:
            print(f"cluster up in {cluster.bring_up_s:.1f} s: {' '.join(cluster.urls)}", flush=True)
            if args.play:
                return _play(cluster, args)
            print("Ctrl-C (or SIGTERM) stops it", flush=True)
            signal.pause()
    except KeyboardInterrupt:
        print("stopped; cluster removed", flush=True)
        return 130
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())

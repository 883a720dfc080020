"""Signed reports: sealing, every rejection reason, the replay window's edges, and key files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from grid.errors import ConfigError, MessageRejected
from grid.mqtt.memory import MemoryBroker
from grid.participants.node import MemberNode
from grid.security.signing import (
    KeyFileError,
    Signer,
    SigningKeys,
    Verifier,
    signing_dir,
    temporary_keys,
    write_signing_keys,
)
from grid.wire import topics
from grid.wire.messages import Envelope, SensorScan, ThreatReport
from grid.world.roster import Roster

NOW_NS = 1_800_000_000 * 10**9
WINDOW_S = 30.0


def _report(sensor_id: str = "RO-RAD-CAPE-MIDIA") -> ThreatReport:
    return ThreatReport(
        run_id="run-1",
        sensor_id=sensor_id,
        sensor_kind="radar",
        sensor_lat=44.355,
        sensor_lon=28.68,
        sensor_alt_m=30.0,
        time_s=12.0,
        bearing_deg=95.0,
        sigma_bearing_deg=0.4,
        range_m=20_000.0,
        sigma_range_m=30.0,
        max_range_m=150_000.0,
    )


def _envelope(origin: str = "RO", *, sent_ns: int = NOW_NS, msg_id: str = "m1") -> Envelope:
    body = SensorScan(run_id="run-1", reports=(_report(),))
    return Envelope(body=body, origin=origin, sent_ns=sent_ns, msg_id=msg_id)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SigningKeys:
    directory = tmp_path_factory.mktemp("keys")
    write_signing_keys(directory, ["RO", "HU"])
    return SigningKeys.load(directory, ["RO", "HU"], replay_window_s=WINDOW_S)


def _verifier(keys: SigningKeys, now: list[int] | None = None) -> Verifier:
    clock = now if now is not None else [NOW_NS]
    return keys.verifier(now_ns=lambda: clock[0])


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(MessageRejected) as caught:
        call()
    return caught.value.reason


def test_sealed_report_opens_to_the_exact_envelope_bytes(keys: SigningKeys) -> None:
    """A sealed message opens to the very bytes that were signed, and its envelope is accepted."""
    payload = _envelope().to_bytes()
    sealed = keys.signer("RO").seal(payload)
    verifier = _verifier(keys)
    opened, signer = verifier.open(sealed, "RO")
    assert (opened, signer) == (payload, "RO")
    verifier.accept(Envelope.from_bytes(opened), signer)


def test_unsigned_unknown_and_forged_messages_are_refused(keys: SigningKeys) -> None:
    """Unsigned, unknown-signer, forged, tampered and short signatures each get their own reason."""
    verifier = _verifier(keys)
    payload = _envelope().to_bytes()
    assert _reason(lambda: verifier.open(payload, "RO")) == "unsigned"
    assert _reason(lambda: verifier.open(b"\xc1garbage", "RO")) == "unsigned"
    outsider = Signer("XX", Ed25519PrivateKey.generate())
    assert _reason(lambda: verifier.open(outsider.seal(payload), "RO")) == "unknown_signer"
    forger = Signer("RO", Ed25519PrivateKey.generate())  # claims RO, signs with a key of its own
    assert _reason(lambda: verifier.open(forger.seal(payload), "RO")) == "bad_signature"
    sealed = bytearray(keys.signer("RO").seal(payload))
    sealed[20] ^= 0x01  # one bit of the signed envelope changed in transit
    assert _reason(lambda: verifier.open(bytes(sealed), "RO")) == "bad_signature"


def test_wrong_signer_on_the_topic_or_in_the_envelope(keys: SigningKeys) -> None:
    """HU's valid signature on RO's topic, or on an envelope whose origin is RO, is a wrong signer."""
    verifier = _verifier(keys)
    ro_envelope = _envelope("RO").to_bytes()
    by_hu = keys.signer("HU").seal(ro_envelope)
    assert _reason(lambda: verifier.open(by_hu, "RO")) == "wrong_signer"
    opened, signer = verifier.open(by_hu, None)  # a topic without a node: the envelope decides
    assert _reason(lambda: verifier.accept(Envelope.from_bytes(opened), signer)) == "wrong_signer"


def test_replay_window_edges_and_repeated_ids(keys: SigningKeys) -> None:
    """Exactly the window either way is fresh, one nanosecond more is stale; a repeated id is a replay."""
    window_ns = int(WINDOW_S * 1e9)
    verifier = _verifier(keys)
    verifier.accept(_envelope(sent_ns=NOW_NS - window_ns, msg_id="old-edge"), "RO")
    verifier.accept(_envelope(sent_ns=NOW_NS + window_ns, msg_id="new-edge"), "RO")
    too_old = _envelope(sent_ns=NOW_NS - window_ns - 1, msg_id="too-old")
    too_new = _envelope(sent_ns=NOW_NS + window_ns + 1, msg_id="too-new")
    assert _reason(lambda: verifier.accept(too_old, "RO")) == "stale"
    assert _reason(lambda: verifier.accept(too_new, "RO")) == "stale"
    verifier.accept(_envelope(msg_id="once"), "RO")
    assert _reason(lambda: verifier.accept(_envelope(msg_id="once"), "RO")) == "replayed"


def test_ids_are_forgotten_once_their_message_is_stale(keys: SigningKeys) -> None:
    """The memory of ids is bounded by the window: past it, the same message is refused as stale."""
    now = [NOW_NS]
    verifier = _verifier(keys, now)
    env = _envelope(msg_id="m")
    verifier.accept(env, "RO")
    now[0] += int(WINDOW_S * 1e9) + 1
    verifier.accept(_envelope(sent_ns=now[0], msg_id="later"), "RO")  # prunes the first id
    assert "m" not in verifier._seen
    assert _reason(lambda: verifier.accept(env, "RO")) == "stale"


def test_written_keys_have_the_certs_layout(tmp_path: Path) -> None:
    """DIR/signing/<node>.key is PKCS8 PEM with mode 0600, <node>.pub a SubjectPublicKeyInfo PEM."""
    folder = write_signing_keys(tmp_path, ["RO"])
    assert folder == signing_dir(tmp_path) == tmp_path / "signing"
    key_file, pub_file = folder / "RO.key", folder / "RO.pub"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub_file.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    with temporary_keys(["RO"]) as directory:
        assert (signing_dir(directory) / "RO.key").exists()
    assert not directory.exists()


def test_key_file_errors_name_the_file(tmp_path: Path) -> None:
    """A missing, malformed, non-Ed25519, world-readable or mismatched key names its file."""
    folder = write_signing_keys(tmp_path, ["RO", "HU"])
    with pytest.raises(KeyFileError, match=r"signing/PL\.pub: missing \(make") as missing:
        SigningKeys.load(tmp_path, ["RO", "PL"])
    assert missing.value.file == folder / "PL.pub"
    assert missing.value.problem == "missing (make the keys with `gridsim certs DIR`)"
    assert isinstance(missing.value, ConfigError)
    (folder / "HU.pub").write_text("not a key\n")
    with pytest.raises(KeyFileError, match=r"HU\.pub: not a PEM public key"):
        SigningKeys.load(tmp_path, ["HU"])
    x25519 = X25519PrivateKey.generate().public_key()
    (folder / "HU.pub").write_bytes(
        x25519.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match=r"HU\.pub: not an Ed25519 key"):
        SigningKeys.load(tmp_path, ["HU"])
    keys = SigningKeys.load(tmp_path, ["RO"])
    os.chmod(folder / "RO.key", 0o644)
    with pytest.raises(KeyFileError, match=r"RO\.key: readable by others \(mode 644\)"):
        keys.signer("RO")
    os.chmod(folder / "RO.key", 0o600)
    (folder / "RO.key").write_bytes((folder / "RO.key").read_bytes()[:40])
    with pytest.raises(KeyFileError, match=r"RO\.key: not an unencrypted PKCS8 PEM private key"):
        keys.signer("RO")
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "RO.key").write_bytes(other)
    with pytest.raises(KeyFileError, match=r"RO\.key: does not match RO\.pub"):
        keys.signer("RO")
    with pytest.raises(KeyFileError, match=r"PL\.key: missing"):
        keys.signer("PL")
    with pytest.raises(ConfigError, match="replay window"):
        SigningKeys.load(tmp_path, ["RO"], replay_window_s=0)


def test_a_verified_signature_is_shared_only_with_the_same_key(keys: SigningKeys, tmp_path: Path) -> None:
    """Receivers of one grid reuse a verified signature; a verifier holding another key of RO does not."""
    sealed = keys.signer("RO").seal(_envelope(msg_id="shared").to_bytes())
    assert _verifier(keys).open(sealed, "RO")[1] == "RO"
    assert _verifier(keys).open(sealed, "RO")[1] == "RO"  # from the shared result
    assert _reason(lambda: _verifier(keys).open(sealed, "HU")) == "wrong_signer"
    write_signing_keys(tmp_path, ["RO"])
    other = SigningKeys.load(tmp_path, ["RO"]).verifier()
    assert _reason(lambda: other.open(sealed, "RO")) == "bad_signature"


def test_unsigned_mode_publishes_the_bytes_unchanged(roster: Roster) -> None:
    """Without keys a service's payloads are today's envelope bytes, byte for byte."""
    node = MemberNode(roster.member("RO"), roster=roster, session_factory=MemoryBroker().session)
    payload = _envelope().to_bytes()
    assert node.seal(topics.report_topic("RO"), payload) is payload

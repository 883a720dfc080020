"""Signed reports: each node signs what it publishes on its report and cyber-report topics with its
own Ed25519 key, and every receiver that holds the grid's public keys verifies it before decoding.

The wire form of a signed message is a msgpack map ``{"signed": <bytes>, "by": <node id>,
"sig": <64 bytes>}``. ``signed`` holds the exact bytes of today's unsigned envelope and ``sig``
is the signature of those bytes, so nothing is re-encoded to check it. Unsigned mode (no keys) is
byte-identical to a grid without signing.

A receiver (:class:`Verifier`) refuses, counting each by its :class:`~grid.errors.MessageRejected`
reason:

- ``unsigned``: not a signed map on a topic that requires one;
- ``unknown_signer``: signed by an id that has no public key in the grid;
- ``bad_signature``: the signature does not verify (forged, or the bytes were changed);
- ``wrong_signer``: a valid signature of Y on X's topic, or on an envelope whose origin is X;
- ``stale``: the envelope's ``sent_ns`` (the sender's wall clock) is more than the replay window
  from the receiver's wall clock, either way. Wall time, not simulation time: a replay is an
  attacker's act in real time, and every participant of a run shares the host's clock;
- ``replayed``: a message id this receiver already accepted within the window. A QoS 1
  redelivery is the same bytes as an attacker's replay, so in signed mode it is counted here
  (its first copy was used either way). Ids are forgotten once older than the window, since a
  message that old is refused as ``stale``: the memory is bounded by the window.

Keys live in ``DIR/signing/<node>.key`` (PKCS8 PEM, mode 0600) and ``DIR/signing/<node>.pub``
(SubjectPublicKeyInfo PEM), the layout ``gridsim certs DIR`` writes; :func:`write_signing_keys`
makes them for tests and ``gridsim run --sign``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from grid.errors import ConfigError, MessageRejected
from grid.wire import topics
from grid.wire.messages import Envelope

__all__ = [
    "DEFAULT_REPLAY_WINDOW_S",
    "SIGNED_KINDS",
    "KeyFileError",
    "Signer",
    "SigningKeys",
    "Verifier",
    "signing_dir",
    "temporary_keys",
    "write_signing_keys",
]

SIGNED_KINDS = frozenset({topics.TopicKind.REPORT, topics.TopicKind.CYBER_REPORT})
# Generous beside a run's delays (a link's hold, a broker outage's backlog) so nothing valid is
# refused; replays inside it are caught by their message id.
DEFAULT_REPLAY_WINDOW_S = 300.0
_SIGNATURE_BYTES = 64


class KeyFileError(ConfigError):
    """A signing key file is missing, unreadable, not an Ed25519 key, or readable by others.

    Attributes:
        file: the key file.
        problem: what is wrong with it.
    """

    def __init__(self, file: Path, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")


class _Sealed(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    signed: bytes
    by: str
    sig: bytes


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Sealed)
# In one process (``gridsim run``) every receiver of a report gets the same bytes: a signature is
# verified once, and a receiver whose key of that signer is the very one that verified it reuses
# the result (the replay checks stay each receiver's own). Keyed by the exact signed bytes.
_VERIFIED: dict[bytes, tuple[bytes, str, Ed25519PublicKey]] = {}
_VERIFIED_MAX = 4096


def signing_dir(directory: Path) -> Path:
    """Where the signing keys of a key directory are (``DIR/signing``)."""
    return directory / "signing"


def write_signing_keys(directory: Path, node_ids: Iterable[str]) -> Path:
    """Write a fresh Ed25519 key pair for each of ``node_ids`` under ``DIR/signing``; returns that folder."""
    folder = signing_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for node_id in node_ids:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path = folder / f"{node_id}.key"
        # Created 0600 from the start: the key is never readable by others, even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        os.chmod(path, 0o600)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (folder / f"{node_id}.pub").write_bytes(public)
    return folder


@contextlib.contextmanager
def temporary_keys(node_ids: Iterable[str]) -> Iterator[Path]:
    """A key directory with fresh keys for ``node_ids``, removed on exit (``gridsim run --sign``)."""
    with tempfile.TemporaryDirectory(prefix="gridsim-keys-") as directory:
        write_signing_keys(Path(directory), node_ids)
        yield Path(directory)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(path, "missing (make the keys with `gridsim certs DIR`)") from None
    except OSError as exc:
        raise KeyFileError(path, f"unreadable: {exc.strerror}") from exc


def _load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(path, f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(path, f"not an Ed25519 key ({type(key).__name__})")
    return key


def _load_private(path: Path) -> Ed25519PrivateKey:
    data = _read(path)
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(path, f"readable by others (mode {path.stat().st_mode & 0o777:o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:  # TypeError: an encrypted key
        raise KeyFileError(path, f"not an unencrypted PKCS8 PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(path, f"not an Ed25519 key ({type(key).__name__})")
    return key


class Signer:
    """Signs one node's messages with its private key."""

    def __init__(self, node_id: str, key: Ed25519PrivateKey) -> None:
        self.node_id = node_id
        self._key = key

    def seal(self, payload: bytes) -> bytes:
        """The signed wire form of an encoded envelope."""
        return _ENCODER.encode(_Sealed(payload, self.node_id, self._key.sign(payload)))


class SigningKeys:
    """The grid's public keys (one per node) and where each node's private key is."""

    def __init__(
        self,
        directory: Path,
        public: dict[str, Ed25519PublicKey],
        *,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
    ) -> None:
        """Keys of the key directory ``directory`` (its ``signing`` folder holds the files)."""
        if not replay_window_s > 0:
            raise ConfigError(f"the replay window must be more than 0 s, got {replay_window_s!r}")
        self.directory = directory
        self.folder = signing_dir(directory)
        self.public = public
        self.replay_window_s = replay_window_s

    @classmethod
    def load(
        cls, directory: Path, node_ids: Iterable[str], *, replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
    ) -> SigningKeys:
        """The public keys of ``node_ids``; a bad or missing file is a :class:`KeyFileError`."""
        folder = signing_dir(directory)
        public = {n: _load_public(folder / f"{n}.pub") for n in node_ids}
        return cls(directory, public, replay_window_s=replay_window_s)

    def signer(self, node_id: str) -> Signer:
        """``node_id``'s signer, from its private key file (which must match its public key)."""
        path = self.folder / f"{node_id}.key"
        key = _load_private(path)
        expected = self.public.get(node_id)
        if expected is not None and key.public_key().public_bytes_raw() != expected.public_bytes_raw():
            raise KeyFileError(path, f"does not match {node_id}.pub")
        return Signer(node_id, key)

    def verifier(self, *, now_ns: Callable[[], int] = time.time_ns) -> Verifier:
        """A fresh verifier (its own memory of message ids) for one receiver."""
        return Verifier(self.public, window_s=self.replay_window_s, now_ns=now_ns)


class Verifier:
    """Checks one receiver's signed messages: signature, signer, freshness and replays."""

    def __init__(
        self,
        public: dict[str, Ed25519PublicKey],
        *,
        window_s: float = DEFAULT_REPLAY_WINDOW_S,
        now_ns: Callable[[], int] = time.time_ns,
        shared: bool = True,
    ) -> None:
        """A verifier of ``public``'s signers; ``shared=False`` verifies every signature itself (a bench)."""
        self._public = public
        self._shared = shared
        self.window_ns = int(window_s * 1e9)
        self._now_ns = now_ns
        self._seen: set[str] = set()
        self._expiry: deque[tuple[int, str]] = deque()  # (forget after, id), in acceptance order

    def open(self, payload: bytes, topic_node: str | None) -> tuple[bytes, str]:
        """The envelope bytes of a signed message and its signer, or :class:`MessageRejected`.

        ``topic_node``: the node the topic belongs to (``grid/v1/reports/<node>``), which must be the signer.
        """
        shared = _VERIFIED.get(payload) if self._shared else None
        if shared is not None and self._public.get(shared[1]) is shared[2]:
            signed, by, _ = shared
            if topic_node is not None and by != topic_node:
                raise MessageRejected("wrong_signer", f"signed by {by!r} on {topic_node!r}'s topic")
            return signed, by
        try:
            sealed = _DECODER.decode(payload)
        except msgspec.DecodeError:
            raise MessageRejected(
                "unsigned", "a message without a signature, where one is required"
            ) from None
        key = self._public.get(sealed.by)
        if key is None:
            raise MessageRejected(
                "unknown_signer", f"signed by {sealed.by[:64]!r}, who has no key in the grid"
            )
        if len(sealed.sig) != _SIGNATURE_BYTES:
            raise MessageRejected("bad_signature", f"a signature of {len(sealed.sig)} bytes")
        try:
            key.verify(sealed.sig, sealed.signed)
        except InvalidSignature:
            raise MessageRejected(
                "bad_signature", f"the signature of {sealed.by!r} does not verify"
            ) from None
        if len(_VERIFIED) >= _VERIFIED_MAX:
            del _VERIFIED[next(iter(_VERIFIED))]  # the oldest: its copies have all arrived by now
        _VERIFIED[payload] = (sealed.signed, sealed.by, key)
        if topic_node is not None and sealed.by != topic_node:
            raise MessageRejected("wrong_signer", f"signed by {sealed.by!r} on {topic_node!r}'s topic")
        return sealed.signed, sealed.by

    def accept(self, env: Envelope, signer: str) -> None:
        """Check a verified message's envelope: its origin, its age, and that it is not a replay."""
        if env.origin != signer:
            raise MessageRejected("wrong_signer", f"signed by {signer!r}, its origin is {env.origin!r}")
        now = self._now_ns()
        if abs(now - env.sent_ns) > self.window_ns:
            raise MessageRejected(
                "stale", f"sent {(now - env.sent_ns) / 1e9:.1f} s ago, outside the replay window"
            )
        while self._expiry and self._expiry[0][0] < now:
            self._seen.discard(self._expiry.popleft()[1])
        if env.msg_id in self._seen:
            raise MessageRejected("replayed", f"message {env.msg_id!r} was accepted before")
        self._seen.add(env.msg_id)
        self._expiry.append((env.sent_ns + self.window_ns, env.msg_id))

"""Pushing the hub's feed to a TAXII 2.1 collection, with taxii2-client.

The ``--taxii`` URL names one collection::

    http[s]://[USER:PASSWORD@]HOST[:PORT]/API-ROOT-PATH/collections/COLLECTION/

``COLLECTION`` is the collection's id or its title (percent-encoded when it has spaces or
slashes). Credentials in the URL win; without them ``GRIDSIM_TAXII_USER`` and
``GRIDSIM_TAXII_PASSWORD`` are used; a server that wants none gets none.

taxii2-client is synchronous (requests): :meth:`TaxiiFeed.push` blocks, and
:meth:`TaxiiFeed.push_async` runs it in a worker thread, bounded by ``asyncio.timeout``. Every
requests and taxii2-client error is mapped here, once, to :class:`~grid.errors.TaxiiError`; a
failed push is reported, not retried.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

import requests
import requests.adapters
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection

from grid.errors import ConfigError, TaxiiError

__all__ = ["ENV_PASSWORD", "ENV_USER", "PushResult", "TaxiiFeed", "TaxiiTarget"]

ENV_USER = "GRIDSIM_TAXII_USER"
ENV_PASSWORD = "GRIDSIM_TAXII_PASSWORD"
_COLLECTION_PATH = re.compile(r"^(?P<root>/(?:[^/]+/)+)collections/(?P<collection>[^/]+)/?$")
_URL_FORM = "http[s]://[user:password@]host[:port]/api-root/collections/<id or title>/"


@dataclass(frozen=True)
class TaxiiTarget:
    """One TAXII 2.1 collection and the credentials to write to it.

    Attributes:
        api_root: the API root's URL, without credentials, ending in ``/``.
        collection: the collection's id or title.
        user: the HTTP basic-auth user, or None for a server without authentication.
        password: the user's password (never shown in ``repr`` or messages).
    """

    api_root: str
    collection: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.api_root.endswith("/"):
            raise ConfigError(f"TAXII API root {self.api_root!r} must end with '/'")
        if not self.collection:
            raise ConfigError("TAXII collection: empty id or title")
        if (self.user is None) != (self.password is None):
            raise ConfigError("TAXII credentials: give both a user and a password, or neither")

    @property
    def url(self) -> str:
        """The collection's URL as given (id or title), without credentials: safe to print."""
        return f"{self.api_root}collections/{quote(self.collection, safe='')}/"

    @classmethod
    def parse(cls, url: str, *, env: Mapping[str, str] | None = None) -> TaxiiTarget:
        """The target a ``--taxii`` URL names (see the module docstring for the form).

        Args:
            url: ``http[s]://[user:password@]host[:port]/api-root/collections/<id or title>/``.
            env: where ``GRIDSIM_TAXII_USER`` and ``GRIDSIM_TAXII_PASSWORD`` are looked up when the
                URL has no credentials (default: the process environment).

        Raises:
            ConfigError: another scheme, no host, no ``/collections/<id>/`` path, a query, or only
                half of the credentials.
        """
        environ = os.environ if env is None else env
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"TAXII URL: bad host or port ({exc}); expected {_URL_FORM}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"TAXII URL {_redact(url)!r}: expected {_URL_FORM}")
        if parts.query or parts.fragment:
            raise ConfigError(f"TAXII URL {_redact(url)!r}: unexpected query or fragment")
        match = _COLLECTION_PATH.match(parts.path)
        if match is None:
            raise ConfigError(f"TAXII URL {_redact(url)!r}: no collection in the path; expected {_URL_FORM}")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = host if port is None else f"{host}:{port}"
        if parts.username is not None:
            user: str | None = unquote(parts.username)
            password = None if parts.password is None else unquote(parts.password)
        else:
            user, password = environ.get(ENV_USER), environ.get(ENV_PASSWORD)
        if (user is None) != (password is None):
            raise ConfigError(
                f"TAXII URL {_redact(url)!r}: a user without a password (or the reverse); give both "
                f"in the URL, or set both {ENV_USER} and {ENV_PASSWORD}"
            )
        return cls(
            api_root=f"{parts.scheme}://{netloc}{match['root']}",
            collection=unquote(match["collection"]),
            user=user,
            password=password,
        )


@dataclass(frozen=True)
class PushResult:
    """What one push did.

    Attributes:
        count: objects the server added.
        failed: objects the server refused (medallion refuses a version it already holds).
        failures: ``id: message`` of each refused object.
        status_ids: the TAXII status resource of each request (one a chunk).
        seconds: wall time of the whole push, status waits included.
    """

    count: int
    failed: int
    failures: tuple[str, ...]
    status_ids: tuple[str, ...]
    seconds: float


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """Gives every request a timeout (requests has no session-wide one) and never retries."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(max_retries=0)
        self._timeout_s = timeout_s

    def send(  # noqa: PLR0917 - requests' own signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        chosen = self._timeout_s if timeout is None else timeout
        return super().send(request, stream=stream, timeout=chosen, verify=verify, cert=cert, proxies=proxies)


class TaxiiFeed:
    """A writable TAXII 2.1 collection that STIX objects are pushed to, in chunks.

    Use it as a context manager (sync or async), which closes its HTTP session; the collection
    is looked up (and checked writable) on entry, or on the first push.

    Args:
        target: the collection and credentials.
        chunk_size: most objects in one request, so a large feed never builds a huge one.
        request_timeout_s: bound on each HTTP request (connect and each read).
        status_timeout_s: how long to wait for the server to finish one request's status.
        poll_interval_s: how often the status is polled while it is pending.
        push_timeout_s: bound on one :meth:`push_async` call as a whole.
        timer: seconds for :attr:`PushResult.seconds` (injected; default ``time.perf_counter``).
    """

    def __init__(
        self,
        target: TaxiiTarget,
        *,
        chunk_size: int = 100,
        request_timeout_s: float = 10.0,
        status_timeout_s: float = 30.0,
        poll_interval_s: float = 0.2,
        push_timeout_s: float = 120.0,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if chunk_size < 1:
            raise ConfigError(f"TAXII chunk size must be at least 1, not {chunk_size}")
        if min(request_timeout_s, status_timeout_s, poll_interval_s, push_timeout_s) <= 0:
            raise ConfigError("TAXII timeouts and poll interval must be positive")
        self.target = target
        self.chunk_size = chunk_size
        self.request_timeout_s = request_timeout_s
        self.status_timeout_s = status_timeout_s
        self.poll_interval_s = poll_interval_s
        self.push_timeout_s = push_timeout_s
        self._timer = timer
        self._root = ApiRoot(target.api_root, user=target.user, password=target.password)
        adapter = _TimeoutAdapter(request_timeout_s)
        # taxii2-client creates the session and offers no timeout option: mount ours on it.
        session: requests.Session = self._root._conn.session
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._collection: Collection | None = None
        # One request at a time: the worker threads of push_async share one requests session.
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, *, env: Mapping[str, str] | None = None, **options: Any) -> TaxiiFeed:
        """The feed a ``--taxii`` URL names (``options``: keyword arguments of the constructor)."""
        return cls(TaxiiTarget.parse(url, env=env), **options)

    def open(self) -> None:
        """Look the collection up by id, then by title, and check that it may be written.

        Raises:
            TaxiiError: unreachable server, refused credentials, no such API root or collection,
                several collections of that title, or a collection that is not writable.
        """
        if self._collection is not None:
            return
        with self._mapped(self.target.api_root, "list the collections of the API root"):
            self._root.refresh_collections()
            collections: list[Collection] = list(self._root.collections)
        wanted = self.target.collection
        found = [c for c in collections if c.id == wanted] or [c for c in collections if c.title == wanted]
        if not found:
            known = ", ".join(f"{c.id} ({c.title!r})" for c in collections) or "none"
            raise TaxiiError(self.target.url, f"no collection {wanted!r} at this API root; it has: {known}")
        if len(found) > 1:
            raise TaxiiError(self.target.url, f"{len(found)} collections are titled {wanted!r}: give its id")
        collection = found[0]
        if not collection.can_write:
            raise TaxiiError(
                self.target.url, f"collection {collection.id} ({collection.title!r}) is not writable"
            )
        self._collection = collection

    def push(self, objects: Sequence[Mapping[str, Any]]) -> PushResult:
        """Add ``objects`` (stix2 objects or dicts) to the collection, ``chunk_size`` at a time.

        Each request's status is waited for until complete (at most ``status_timeout_s``).

        Raises:
            TaxiiError: the collection cannot be opened (see :meth:`open`), a request is refused
                or unanswered, or a status is still pending after ``status_timeout_s``.
        """
        start = self._timer()
        self.open()
        assert self._collection is not None
        added = failed = 0
        failures: list[str] = []
        status_ids: list[str] = []
        for first in range(0, len(objects), self.chunk_size):
            envelope = _envelope(objects[first : first + self.chunk_size])
            with self._mapped(self._collection.url, "add objects to the collection"):
                status = self._collection.add_objects(
                    envelope,
                    wait_for_completion=True,
                    poll_interval=self.poll_interval_s,
                    timeout=self.status_timeout_s,
                )
            if status.status != "complete":
                raise TaxiiError(
                    self._collection.url,
                    f"status {status.id} still {status.status!r} after {self.status_timeout_s:g} s "
                    f"({status.success_count} added, {status.pending_count} pending)",
                )
            status_ids.append(status.id)
            added += status.success_count
            failed += status.failure_count
            failures += [f"{f.get('id')}: {f.get('message', 'refused')}" for f in status.failures or ()]
        return PushResult(added, failed, tuple(failures), tuple(status_ids), self._timer() - start)

    async def push_async(self, objects: Sequence[Mapping[str, Any]]) -> PushResult:
        """:meth:`push` in a worker thread, bounded by ``push_timeout_s``.

        Raises:
            TaxiiError: as :meth:`push`, or no result within ``push_timeout_s`` (the worker thread
                then still ends within its request timeouts).
        """
        async with self._lock:
            try:
                async with asyncio.timeout(self.push_timeout_s):
                    return await asyncio.to_thread(self.push, list(objects))
            except TimeoutError as exc:
                raise TaxiiError(
                    self.target.url,
                    f"push of {len(objects)} objects unfinished after {self.push_timeout_s:g} s",
                ) from exc

    def close(self) -> None:
        """Close the HTTP session."""
        self._root.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        async with self._lock:
            try:
                async with asyncio.timeout(self.push_timeout_s):
                    await asyncio.to_thread(self.open)
            except TimeoutError as exc:
                raise TaxiiError(self.target.url, f"no collection within {self.push_timeout_s:g} s") from exc
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _mapped(self, url: str, action: str) -> Iterator[None]:
        """Turn requests and taxii2-client errors raised while doing ``action`` into TaxiiError."""
        try:
            yield
        # Timeout before ConnectionError: a connect timeout is both.
        except requests.Timeout as exc:
            raise TaxiiError(url, f"no answer within {self.request_timeout_s:g} s to {action}") from exc
        except requests.ConnectionError as exc:
            raise TaxiiError(url, f"unreachable ({_os_reason(exc)})") from exc
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else None
            raise TaxiiError(url, self._refusal(code, action, exc), http_status=code) from exc
        except (requests.RequestException, TAXIIServiceException) as exc:
            raise TaxiiError(url, f"could not {action}: {str(exc).splitlines()[0]}") from exc

    def _refusal(self, code: int | None, action: str, exc: requests.HTTPError) -> str:
        user = self.target.user
        if code == 401:
            if user is None:
                where = f"put them in the URL, or set {ENV_USER} and {ENV_PASSWORD}"
                return f"the server wants credentials (401): {where}"
            return f"the server refused the credentials of user {user!r} (401)"
        if code == 403:
            return f"user {user!r} may not {action} (403)"
        if code == 404:
            return f"not found (404) when trying to {action}"
        if code == 413:
            return f"request too large (413) to {action}: lower the chunk size ({self.chunk_size})"
        return f"refused to {action} ({code}): {_description(exc.response)}"


def _envelope(objects: Sequence[Mapping[str, Any]]) -> bytes:
    """A TAXII 2.1 envelope of ``objects``: stix2 objects serialise themselves, dicts go through json."""
    parts = [obj.serialize() if hasattr(obj, "serialize") else json.dumps(obj) for obj in objects]
    return ('{"objects": [' + ", ".join(parts) + "]}").encode()


def _description(response: requests.Response | None) -> str:
    """The TAXII error message's description, or the start of the body."""
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, dict) and isinstance(body.get("description"), str):
        return str(body["description"])
    return response.text[:200]


def _os_reason(exc: requests.ConnectionError) -> str:
    """``Connection refused`` out of requests' long ``HTTPConnectionPool(...): Max retries ...`` text."""
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return match[1].strip() if match else type(exc).__name__


def _redact(url: str) -> str:
    """``url`` without the password, for messages."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", url)

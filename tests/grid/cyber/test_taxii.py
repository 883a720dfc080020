"""Tests of grid.cyber.taxii: the --taxii URL, and pushes to a real TAXII 2.1 server (medallion)."""

from __future__ import annotations

import json
import socket
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
import stix2
from taxii2client.v21 import Collection

from grid.cyber.taxii import ENV_PASSWORD, ENV_USER, TaxiiFeed, TaxiiTarget
from grid.errors import ConfigError, TaxiiError
from grid.mqtt.address import free_port
from tests.grid.cyber.conftest import FEED_ID, FEED_TITLE, READ_ONLY_ID, Medallion

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
PHISHING_LINK = "attack-pattern--2b742742-28c3-4e1b-bab7-8350d6300fa7"  # ATT&CK T1566.002


# --- the --taxii URL ---------------------------------------------------------------------------


def test_parse_url_with_credentials_and_id() -> None:
    """The collection URL gives the API root, the collection id, and the credentials it carries."""
    target = TaxiiTarget.parse(f"http://cert:pa%40ss@127.0.0.1:5000/api1/collections/{FEED_ID}/", env={})
    assert target == TaxiiTarget("http://127.0.0.1:5000/api1/", FEED_ID, "cert", "pa@ss")
    assert target.url == f"http://127.0.0.1:5000/api1/collections/{FEED_ID}/"
    assert "pa@ss" not in repr(target)


def test_parse_url_title_nested_root_and_no_trailing_slash() -> None:
    """A percent-encoded title, an API root two segments deep, and no trailing slash all parse."""
    target = TaxiiTarget.parse("https://taxii.example/taxii/grid/collections/Allied%20cyber%20feed", env={})
    assert (target.api_root, target.collection) == ("https://taxii.example/taxii/grid/", FEED_TITLE)
    assert (target.user, target.password) == (None, None)
    assert target.url == "https://taxii.example/taxii/grid/collections/Allied%20cyber%20feed/"


def test_parse_url_credentials_from_env_unless_in_url() -> None:
    """Without credentials in the URL the environment's are used; the URL's win over them."""
    env = {ENV_USER: "env-user", ENV_PASSWORD: "env-pass"}
    bare = TaxiiTarget.parse(f"http://127.0.0.1:5000/api1/collections/{FEED_ID}/", env=env)
    assert (bare.user, bare.password) == ("env-user", "env-pass")
    given = TaxiiTarget.parse(f"http://u:p@127.0.0.1:5000/api1/collections/{FEED_ID}/", env=env)
    assert (given.user, given.password) == ("u", "p")


@pytest.mark.parametrize(
    ("url", "env", "problem"),
    [
        ("ftp://127.0.0.1/api1/collections/x/", {}, "expected http"),
        ("http:///api1/collections/x/", {}, "expected http"),
        ("http://127.0.0.1:5000/api1/", {}, "no collection in the path"),
        ("http://127.0.0.1:5000/collections/x/", {}, "no collection in the path"),
        ("http://127.0.0.1:5000/api1/collections/x/objects/", {}, "no collection in the path"),
        ("http://127.0.0.1:5000/api1/collections/x/?limit=1", {}, "query"),
        ("http://127.0.0.1:99999/api1/collections/x/", {}, "bad host or port"),
        ("http://cert@127.0.0.1/api1/collections/x/", {}, "user without a password"),
        ("http://127.0.0.1/api1/collections/x/", {ENV_USER: "cert"}, "user without a password"),
    ],
)
def test_parse_url_rejects(url: str, env: dict[str, str], problem: str) -> None:
    """Other schemes, paths without a collection, queries, bad ports and half credentials are refused."""
    with pytest.raises(ConfigError, match=problem):
        TaxiiTarget.parse(url, env=env)


def test_parse_url_error_hides_password() -> None:
    """A refused URL is quoted in the error without its password."""
    with pytest.raises(ConfigError) as caught:
        TaxiiTarget.parse("http://cert:hunter2@127.0.0.1/api1/", env={})
    assert "hunter2" not in str(caught.value)
    assert "cert:***@" in str(caught.value)


# --- pushes to medallion -------------------------------------------------------------------------


def _member(name: str) -> stix2.Identity:
    return stix2.Identity(name=f"{name} CERT", identity_class="organization", created=T0, modified=T0)


def _indicator(url: str, by: stix2.Identity) -> stix2.Indicator:
    return stix2.Indicator(
        name=f"Phishing link {url}",
        description="Link in a spearphishing mail seen by a member CERT",
        pattern=f"[url:value = '{url}']",
        pattern_type="stix",
        valid_from=T0,
        created_by_ref=by.id,
        confidence=80,
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
        object_marking_refs=[stix2.TLP_AMBER.id],
    )


def _sighting(indicator: stix2.Indicator, members: list[stix2.Identity]) -> stix2.Sighting:
    return stix2.Sighting(
        sighting_of_ref=indicator.id,
        where_sighted_refs=[m.id for m in members],
        count=len(members),
        first_seen=T0,
        last_seen=T0,
    )


def _reader(server: Medallion, collection_id: str = FEED_ID) -> Collection:
    return Collection(
        f"{server.api_root}collections/{collection_id}/", user=server.user, password=server.password
    )


def _ids(envelope: dict[str, Any]) -> set[str]:
    return {obj["id"] for obj in envelope.get("objects", [])}


@pytest.fixture
def feed(medallion: Medallion) -> Iterator[TaxiiFeed]:
    """A feed to medallion's writable collection, with short timeouts."""
    with TaxiiFeed.from_url(
        medallion.collection_url(), env={}, request_timeout_s=5.0, status_timeout_s=10.0
    ) as opened:
        yield opened


@pytest.mark.timeout(60)
def test_push_then_read_back_filtered_by_added_after(feed: TaxiiFeed, medallion: Medallion) -> None:
    """Indicators and a sighting pushed after the first push's date_added are all, and only, read back."""
    ro, bg, pl = _member("RO"), _member("BG"), _member("PL")
    first_wave = [_indicator(f"https://evil.example/{n}", ro) for n in ("login", "invoice", "x")]
    flagged = stix2.Relationship(first_wave[0], "indicates", PHISHING_LINK)
    first = [ro, bg, pl, *first_wave, flagged, _sighting(first_wave[0], [bg, pl])]
    second_wave = [_indicator(f"https://evil.example/second/{n}", bg) for n in ("a", "b")]
    second = [*second_wave, _sighting(second_wave[1], [ro])]

    pushed = feed.push(first)
    assert (pushed.count, pushed.failed, len(pushed.status_ids)) == (len(first), 0, 1)
    reader = _reader(medallion)
    manifest = reader.get_manifest()["objects"]
    assert {entry["id"] for entry in manifest} == {obj.id for obj in first}
    cut = max(entry["date_added"] for entry in manifest)

    assert feed.push(second).count == len(second)
    assert _ids(reader.get_objects(added_after=cut)) == {obj.id for obj in second}
    assert _ids(reader.get_objects()) == {obj.id for obj in first + second}
    sightings = reader.get_objects(added_after=cut, type="sighting")["objects"]
    assert [(s["sighting_of_ref"], s["count"]) for s in sightings] == [(second_wave[1].id, 1)]


@pytest.mark.timeout(60)
def test_push_in_chunks_of_dicts(medallion: Medallion) -> None:
    """Seven plain-dict objects go in chunks of three: three requests, seven objects added."""
    ro = _member("RO")
    objects = [ro, *(_indicator(f"https://evil.example/chunk/{n}", ro) for n in range(6))]
    plain: list[dict[str, Any]] = [json.loads(o.serialize()) for o in objects]
    with TaxiiFeed.from_url(medallion.collection_url(), env={}, chunk_size=3) as feed:
        pushed = feed.push(plain)
    assert (pushed.count, pushed.failed, len(set(pushed.status_ids))) == (7, 0, 3)
    assert _ids(_reader(medallion).get_objects()) == {o["id"] for o in plain}


@pytest.mark.timeout(60)
def test_repushed_versions_are_reported_not_raised(feed: TaxiiFeed) -> None:
    """Pushing the same versions again adds nothing, and each refused object is reported."""
    ro = _member("RO")
    objects = [ro, _indicator("https://evil.example/again", ro)]
    assert feed.push(objects).count == 2
    again = feed.push(objects)
    assert (again.count, again.failed) == (0, 2)
    assert {line.split(":")[0] for line in again.failures} == {o.id for o in objects}


def test_push_nothing_sends_nothing(feed: TaxiiFeed, medallion: Medallion) -> None:
    """An empty push makes no request and adds nothing."""
    pushed = feed.push([])
    assert (pushed.count, pushed.failed, pushed.failures, pushed.status_ids) == (0, 0, (), ())
    assert _reader(medallion).get_objects().get("objects", []) == []


@pytest.mark.timeout(60)
async def test_push_async_by_title_with_env_credentials(medallion: Medallion) -> None:
    """The async feed, opened by the collection's title and the environment's credentials, pushes."""
    env = {ENV_USER: medallion.user, ENV_PASSWORD: medallion.password}
    url = medallion.collection_url(FEED_TITLE.replace(" ", "%20"), credentials=False)
    ro = _member("RO")
    async with TaxiiFeed.from_url(url, env=env) as feed:
        pushed = await feed.push_async([ro, _indicator("https://evil.example/async", ro)])
    assert (pushed.count, pushed.failed) == (2, 0)
    assert len(_ids(_reader(medallion).get_objects())) == 2


# --- errors ------------------------------------------------------------------------------------


def _error_of(url: str, **options: Any) -> TaxiiError:
    with pytest.raises(TaxiiError) as caught, TaxiiFeed.from_url(url, env={}, **options):
        pass
    return caught.value


def test_wrong_password(medallion: Medallion) -> None:
    """A wrong password is a TaxiiError saying 401, naming the user, and not showing the password."""
    url = medallion.collection_url().replace(medallion.password, "wrong-pass")
    error = _error_of(url)
    assert error.http_status == 401
    assert f"refused the credentials of user {medallion.user!r}" in str(error)
    assert "wrong-pass" not in str(error)


def test_no_credentials_for_a_server_that_wants_them(medallion: Medallion) -> None:
    """No credentials at all: the TaxiiError says where to give them."""
    error = _error_of(medallion.collection_url(credentials=False))
    assert error.http_status == 401
    assert ENV_USER in str(error)


def test_unknown_collection(medallion: Medallion) -> None:
    """An unknown collection is a TaxiiError that lists the collections the API root has."""
    error = _error_of(medallion.collection_url("no-such-collection"))
    assert "no collection 'no-such-collection'" in str(error)
    assert FEED_ID in str(error)
    assert error.http_status is None


def test_unknown_api_root(medallion: Medallion) -> None:
    """An API root the server does not have is a TaxiiError with 404."""
    url = medallion.collection_url().replace("/gridsim/", "/elsewhere/")
    assert _error_of(url).http_status == 404


def test_read_only_collection(medallion: Medallion) -> None:
    """A collection without can_write is refused before anything is sent."""
    assert "is not writable" in str(_error_of(medallion.collection_url(READ_ONLY_ID)))


def test_dead_port() -> None:
    """Nothing listening: a TaxiiError saying the connection was refused."""
    error = _error_of(
        f"http://u:p@127.0.0.1:{free_port()}/api1/collections/{FEED_ID}/", request_timeout_s=2.0
    )
    assert "unreachable (Connection refused)" in str(error)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_server_that_never_answers(silent_server: int) -> None:
    """A server that never answers is a TaxiiError once the request timeout passes."""
    error = _error_of(f"http://u:p@127.0.0.1:{silent_server}/api1/collections/x/", request_timeout_s=0.5)
    assert "no answer within 0.5 s" in str(error)


async def test_push_async_is_bounded(silent_server: int) -> None:
    """push_async gives up at its own bound, even while the worker's request still waits."""
    url = f"http://u:p@127.0.0.1:{silent_server}/api1/collections/x/"
    feed = TaxiiFeed.from_url(url, env={}, request_timeout_s=3.0, push_timeout_s=0.3)
    try:
        with pytest.raises(TaxiiError, match=r"unfinished after 0\.3 s"):
            await feed.push_async([{"type": "identity", "id": "identity--x"}])
    finally:
        feed.close()


# --- figure ------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_push_time_of_50_indicators(feed: TaxiiFeed, capsys: pytest.CaptureFixture[str]) -> None:
    """Five pushes of 50 new indicators each all land; their median time is printed (run with -s)."""
    ro = _member("RO")
    results = [
        feed.push([_indicator(f"https://evil.example/bench/{run}/{n}", ro) for n in range(50)])
        for run in range(5)
    ]
    assert [(r.count, r.failed) for r in results] == [(50, 0)] * 5
    median = statistics.median(r.seconds for r in results)
    with capsys.disabled():
        print(f"\nTAXII push of 50 indicators to medallion: median {median * 1000:.0f} ms over 5 pushes")


def test_refused_objects(feed: TaxiiFeed) -> None:
    """Objects the server cannot process are a TaxiiError with its status and description."""
    with pytest.raises(TaxiiError) as caught:
        feed.push([{"type": "indicator", "spec_version": "2.1"}])
    assert caught.value.http_status == 422
    assert "refused to add objects to the collection (422)" in str(caught.value)


def test_status_still_pending(feed: TaxiiFeed) -> None:
    """A status the server has not finished within status_timeout_s is a TaxiiError naming it."""
    pending = SimpleNamespace(status="pending", id="status-1", success_count=0, pending_count=2, failures=[])
    with (
        patch.object(Collection, "add_objects", return_value=pending) as add,
        pytest.raises(TaxiiError, match="status status-1 still 'pending' after 10 s"),
    ):
        feed.push([_member("RO"), _member("BG")])
    assert add.call_args.kwargs["timeout"] == feed.status_timeout_s

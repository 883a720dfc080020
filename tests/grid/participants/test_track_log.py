"""The centre's track log: every update survives the account's round trip; a malformed row is refused."""

from __future__ import annotations

import msgpack
import msgspec
import pytest

from grid.errors import MessageRejected
from grid.evaluation.picture import TrackUpdate
from grid.participants.track_log import TrackLog, updates_from_log
from grid.wire.messages import TRACK_LOG_COLUMNS, Envelope, FusionStats

UPDATES = [
    TrackUpdate(time=1.0, issued=1.2, track_id="T0001", east=10.5, north=-3.25, confirmed=False),
    TrackUpdate(time=2.0, issued=2.0, track_id="T0002", east=0.0, north=1e6, vel_east=-40.0, vel_north=7.5),
    TrackUpdate(time=2.5, issued=3.0, track_id="T0001", east=11.0, north=-3.0),
    TrackUpdate(time=2.5, issued=9.0, track_id="T0001", east=11.0, north=-3.0, confirmed=False, deleted=True),
]


def stats(track_ids: tuple[str, ...], track_log: tuple[tuple[float, ...], ...]) -> FusionStats:
    """An account with nothing but a track log."""
    return FusionStats(run_id="run-1", delivered=0, duplicates=0, track_ids=track_ids, track_log=track_log)


def test_every_update_survives_the_wire() -> None:
    """Logged updates come back from the encoded account equal and in order, tracks named once each."""
    log = TrackLog()
    log.extend(UPDATES)
    track_ids, rows = log.rows()
    assert track_ids == ("T0001", "T0002")
    assert all(len(row) == len(TRACK_LOG_COLUMNS) for row in rows)
    decoded = Envelope.from_bytes(Envelope(body=stats(track_ids, rows), origin="fusion").to_bytes()).body
    assert isinstance(decoded, FusionStats)
    assert updates_from_log(decoded) == UPDATES


@pytest.mark.parametrize(
    ("track_ids", "row", "why"),
    [
        (("T1",), (1.0, 1.0, 0, 0.0, 0.0, 0.0, 0.0), "expected 8 numbers"),
        (("T1",), (1.0, 1.0, 1, 0.0, 0.0, 0.0, 0.0, 1), "not in track_ids"),
        (("T1",), (1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1), "not in track_ids"),
        (("T1",), (1.0, 1.0, 0, 0.0, 0.0, 0.0, 0.0, 3), "status 3"),
        (("T1",), (2.0, 1.0, 0, 0.0, 0.0, 0.0, 0.0, 1), "issued before its time"),
    ],
)
def test_a_malformed_row_is_rejected_on_decoding(
    track_ids: tuple[str, ...], row: tuple[float, ...], why: str
) -> None:
    """A row of the wrong length, an unknown track or status, or one issued before its time is refused."""
    good = stats(track_ids, ())
    raw = {"v": 1, "id": "a" * 32, "origin": "fusion", "sent_ns": 0, "type": "fusion_stats"}
    raw["body"] = {**msgspec.structs.asdict(good), "track_log": [list(row)]}
    with pytest.raises(MessageRejected, match=why) as info:
        Envelope.from_bytes(msgpack.packb(raw))
    assert info.value.reason == "bad_value"


def test_whole_number_indexes_may_come_as_floats() -> None:
    """A decoder that hands the track and status indexes over as floats (0.0, 1.0) reads the same update."""
    (update,) = updates_from_log(stats(("T1",), ((1.0, 2.0, 0.0, 5.0, 6.0, 0.5, -0.5, 1.0),)))
    assert update == TrackUpdate(
        time=1.0, issued=2.0, track_id="T1", east=5.0, north=6.0, vel_east=0.5, vel_north=-0.5, confirmed=True
    )

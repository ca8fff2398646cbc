"""Replay: chunking independence, JSON output, capture clock, bad bytes."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest

from call_helpers import FIXTURES, fixture_bytes, utc
from ivr.ami.protocol import AmiParser, parse_stream
from ivr.events import CallSnapshot, Disposition
from ivr.replay import capture_times, replay_bytes, replay_messages, snapshot_to_json

AMI_CAPTURES = sorted(p.stem for p in FIXTURES.glob("[0-9]*.txt"))


def records(calls: list[CallSnapshot]) -> list[dict]:
    return [snapshot_to_json(c) for c in calls]


def chunked_messages(data: bytes, rng: random.Random, max_chunk: int):
    parser = AmiParser()
    out = []
    i = 0
    while i < len(data):
        n = rng.randint(1, max_chunk)
        out += parser.feed(data[i:i + n])
        i += n
    return out


def test_every_capture_is_covered():
    assert len(AMI_CAPTURES) == 15


@pytest.mark.parametrize("name", AMI_CAPTURES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_records_under_random_chunking(name, seed):
    data = fixture_bytes(name)
    whole = records(replay_bytes(data))
    rng = random.Random(seed * 7919 + len(name))
    pieces = records(replay_messages(chunked_messages(data, rng, max_chunk=rng.choice([1, 7, 300]))))
    assert pieces == whole


def test_byte_by_byte_equals_whole_on_the_queue_call():
    data = fixture_bytes("06_queuestatus_and_queue_call")
    parser = AmiParser()
    msgs = [m for b in range(len(data)) for m in parser.feed(data[b:b + 1])]
    assert records(replay_messages(msgs)) == records(replay_bytes(data))


def test_snapshot_to_json_is_json_safe_and_complete():
    [call] = replay_bytes(fixture_bytes("01_ivr_call_dtmf_playdtmf"))
    out = snapshot_to_json(call)
    text = json.dumps(out, ensure_ascii=False)
    back = json.loads(text)
    assert back["call_id"] == "hotline-test-1795799243.0"
    assert back["started_at"] == "2026-11-27T17:07:23+00:00"
    assert back["ended_at"] == "2026-11-27T17:07:31+00:00"
    assert back["duration_s"] == 8.0
    assert back["disposition"] == "transferred"
    assert back["hangup_cause"] == 16
    assert back["digits"] == "1"
    assert back["transfers"][0]["result"] == "answered"
    assert back["transfers"][0]["kind"] == "district_line"
    assert [s["kind"] for s in back["ivr_path"]] == ["enter", "agi", "choice", "enter"]
    assert isinstance(back["ivr_path"][0]["at"], str)
    for key in ("caller", "dialed", "answered_at", "queue", "queue_wait_s", "agent",
                "recordings", "hangup_cause_text"):
        assert key in back


def test_live_call_at_end_of_capture_is_returned_without_disposition():
    data = fixture_bytes("01_ivr_call_dtmf_playdtmf")
    msgs = parse_stream(data)
    cut = next(i for i, m in enumerate(msgs) if m.name == "DTMFEnd") + 1
    [call] = replay_messages(msgs[:cut])
    assert call.call_id == "hotline-test-1795799243.0"
    assert call.ended_at is None and call.disposition is None
    assert call.digits == "1"
    assert snapshot_to_json(call)["duration_s"] is None


def test_capture_times_interpolate_between_stamps_and_clamp_outside():
    msgs = parse_stream(fixture_bytes("01e_ivr_no_input_timeout"))
    times = capture_times(msgs)
    assert len(times) == len(msgs)
    assert times == sorted(times)
    # before the first stamp (SuccessfulAuth EventTV): that stamp
    assert times[0] == utc("17:08:01.207")
    assert times[-1] == utc("17:08:08")  # after the last stamp: the last stamp


def test_capture_without_stamps_uses_default_time():
    data = b"Event: Newchannel\r\nChannel: PJSIP/a-1\r\nUniqueid: u1\r\nLinkedid: u1\r\n" \
           b"CallerIDNum: 13900000000\r\nExten: 12319\r\nContext: from-trunk\r\n\r\n"
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    [call] = replay_bytes(data, default_time=fixed)
    assert call.started_at == fixed
    assert (call.caller, call.dialed, call.channel) == ("13900000000", "12319", "PJSIP/a-1")


def test_pbx_timezone_applies_to_cel_and_cdr_times():
    from zoneinfo import ZoneInfo

    # as if the PBX ran on Beijing time: drop the one UTC-explicit stamp (EventTV)
    data = b"\r\n".join(line for line in fixture_bytes("01_ivr_call_dtmf_playdtmf").split(b"\r\n")
                         if not line.startswith((b"EventTV:", b"SessionTV:")))
    [call] = replay_bytes(data, pbx_tz=ZoneInfo("Asia/Shanghai"))
    # 17:07:23 Beijing time is 09:07:23 UTC
    assert (call.started_at, call.ended_at) == (utc("09:07:23"), utc("09:07:31"))
    assert call.transfers[0].at == utc("09:07:28")


@pytest.mark.parametrize("seed", range(5))
def test_garbage_bytes_never_raise(seed):
    rng = random.Random(seed)
    good = fixture_bytes("06_queuestatus_and_queue_call")
    noise = bytes(rng.randrange(256) for _ in range(3000))
    # splice noise into a real capture: whatever parses must not crash the tracker
    cut = rng.randrange(len(good))
    calls = replay_bytes(good[:cut] + noise + b"\r\n\r\n" + good[cut:])
    assert all(isinstance(c, CallSnapshot) for c in calls)


def test_truncated_capture_keeps_the_finished_call():
    data = fixture_bytes("05_coreshowchannels_status")
    calls = replay_bytes(data[: len(data) // 2])
    assert [c.call_id for c in calls] == ["hotline-test-1795799310.28", "hotline-test-1795799310.30"]
    assert all(c.disposition is None for c in calls)
    full = replay_bytes(data)
    assert all(c.disposition is Disposition.ABANDONED for c in full)

"""The IVR as TwiML, step by step, parsed as XML: every menu, every action, speech and DTMF, retries,
the district offer, queues, messages and ticket status — and the AMI-shaped events each step feeds
to the call tracker (the same call snapshot an Asterisk call gives)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from hotline.rules import load_rules
from ivr.calls import CallTracker
from ivr.directory import TicketStatus
from ivr.events import CallEnded, Disposition
from ivr.flow import flow_from_rules
from ivr.twilio import TwilioVoice
from twilio_support import new_sid, params, twiml

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_765_094_400.0  # 2026-12-07 08:00 UTC


class Directory:
    def __init__(self, open_now=True, tickets=(), states=None):
        self.open_now, self.tickets, self.states = open_now, list(tickets), dict(states or {})

    async def district_line(self, code):
        return None

    async def district_lines(self):
        return []

    async def ticket_status(self, number):
        return self.states.get(number)

    async def open_tickets_for(self, caller):
        return self.tickets

    async def is_open_now(self, at=None):
        return self.open_now


@pytest.fixture(scope="module")
def flow():
    return flow_from_rules(load_rules(ROOT / "routing_rules.yaml"))


class Call:
    """One Twilio call through a :class:`TwilioVoice` and a real call tracker."""

    def __init__(self, flow, directory=None):
        self.ended: list[CallEnded] = []
        self.now = T0
        self.tracker = CallTracker(on_event=lambda e: self.ended.append(e) if isinstance(e, CallEnded) else None)
        self.voice = TwilioVoice(flow, directory or Directory(), self.tracker.feed, clock=lambda: self.now)
        self.sid = new_sid()

    async def post(self, url: str, **extra: str):
        self.now += 1
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path.removeprefix("/twilio/voice/")
        return twiml(await self.voice.handle(path, params(self.sid, **extra), query))

    async def follow(self, root, **extra: str):
        """Post to where the TwiML leads: a Redirect, or the action of its Gather/Dial/Enqueue/Record."""
        el = next(e for e in root if e.tag in ("Redirect", "Gather", "Dial", "Enqueue", "Record"))
        return await self.post(el.text if el.tag == "Redirect" else el.get("action"), **extra)

    def end(self, status="completed"):
        self.now += 1
        self.voice.status(params(self.sid, status=status))
        return self.ended[-1].snapshot

    def snapshot(self):
        return self.tracker.snapshot(self.sid)


def tags(root) -> list[str]:
    return [e.tag for e in root]


async def test_incoming_welcomes_and_opens_the_entry_menu(flow):
    c = Call(flow)
    root = await c.post("/twilio/voice/incoming")
    assert tags(root) == ["Say", "Redirect"]
    assert root[0].text == flow.welcome.text and root[0].get("language") == "zh-CN"
    assert root[1].text == "/twilio/voice/menu/main" and root[1].get("method") == "POST"
    snap = c.snapshot()
    assert snap.caller == "+8613904760000" and snap.answered_at is not None


@pytest.mark.parametrize("menu_id", ["main", "districts"])
async def test_every_menu_is_a_gather_of_keys_and_speech_around_its_prompt(flow, menu_id):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    root = await c.post(f"/twilio/voice/menu/{menu_id}")
    [gather] = root
    menu = flow.menu(menu_id)
    assert gather.tag == "Gather"
    assert gather.get("input") == "dtmf speech" and gather.get("language") == "zh-CN"
    assert gather.get("numDigits") == "1" and gather.get("timeout") == str(menu.timeout_seconds)
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("action") == f"/twilio/voice/menu/{menu_id}/choice?invalid=0&timeouts=0"
    assert gather.get("hints").split(",") == [w for o in menu.options for w in o.keywords]
    assert [e.text for e in gather] == [menu.prompt.text, flow.system_prompt("speech-hint").text]
    assert ("hl12319-menu-" + menu_id, "enter") in [(s.menu, s.kind) for s in c.snapshot().ivr_path]


async def test_prompts_are_played_from_the_prompt_url_when_set(flow):
    c = Call(flow)
    c.voice.prompt_url = "https://prompts.example.gov.cn/hl12319"
    root = await c.post("/twilio/voice/incoming")
    assert root[0].tag == "Play" and root[0].text == "https://prompts.example.gov.cn/hl12319/welcome.wav"


async def test_keys_walk_to_a_district_line_and_an_answered_line_ends_the_call(flow):
    c = Call(flow)
    root = await c.follow(await c.post("/twilio/voice/incoming"))
    root = await c.follow(root, Digits="2")                       # main: 2 → districts
    assert tags(root) == ["Redirect"] and root[0].text == "/twilio/voice/menu/districts"
    root = await c.follow(await c.follow(root), Digits="1")       # districts: 1 → 红山区
    [dial] = root
    assert dial.tag == "Dial" and dial.get("action") == "/twilio/voice/district/150402/done"
    assert dial.get("timeout") == str(flow.transfer_failed.dial_timeout_seconds)
    assert [(n.tag, n.text) for n in dial] == [("Number", "+864768312319")]
    assert tags(await c.follow(root, DialCallStatus="completed", DialCallSid=new_sid())) == ["Hangup"]
    snap = c.end()
    assert [(s.menu, s.value) for s in snap.ivr_path if s.kind == "choice"] == [
        ("hl12319-menu-main", "2"), ("hl12319-menu-districts", "1")]
    assert [(t.target, t.result.value, t.dial_status) for t in snap.transfers] == [
        ("district:150402", "answered", "ANSWER")]
    assert snap.digits == "21"
    assert snap.disposition is Disposition.TRANSFERRED


@pytest.mark.parametrize("status,dialstatus", [("busy", "BUSY"), ("no-answer", "NOANSWER"), ("failed", "CHANUNAVAIL")])
async def test_a_busy_or_unanswered_line_plays_transfer_failed_and_queues(flow, status, dialstatus):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    await c.post("/twilio/voice/menu/districts")
    root = await c.post("/twilio/voice/district/150403/done", DialCallStatus=status)
    assert root is not None
    assert tags(root) == ["Say", "Enqueue"]
    assert root[0].text == flow.transfer_failed.prompt.text
    assert root[1].text == flow.transfer_failed.queue
    assert c.snapshot().variables["HOTLINE_TRANSFER_FAILED"] == "150403"
    assert c.snapshot().variables["HOTLINE_DIAL_STATUS"] == dialstatus


async def test_a_spoken_district_is_dialled(flow):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    await c.post("/twilio/voice/menu/districts")
    root = await c.post("/twilio/voice/menu/districts/choice?invalid=0&timeouts=0",
                        SpeechResult="我在元宝山。", Confidence="0.91")
    assert root[0].tag == "Dial" and root[0][0].text == "+864763512319"
    steps = [(s.kind, s.value) for s in c.snapshot().ivr_path if s.kind in ("speech", "choice")]
    assert steps == [("speech", "元宝山"), ("choice", "2")]
    assert c.snapshot().variables["HOTLINE_SPEECH_RESULT"] == "matched"


@pytest.mark.parametrize("speech,confidence,outcome", [
    ("我想问一下天气", "0.95", "no_match"),        # no keyword
    ("红山还是松山", "0.95", "no_match"),           # two options: ambiguous
    ("红山区", "0.2", "low_confidence"),
])
async def test_unclear_speech_asks_for_a_key(flow, speech, confidence, outcome):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    await c.post("/twilio/voice/menu/districts")
    root = await c.post("/twilio/voice/menu/districts/choice?invalid=0&timeouts=0",
                        SpeechResult=speech, Confidence=confidence)
    assert tags(root) == ["Say", "Redirect"]
    assert root[0].text == flow.system_prompt("speech-fallback").text
    assert root[1].text == "/twilio/voice/menu/districts?invalid=1&timeouts=0"
    assert c.snapshot().variables["HOTLINE_SPEECH_RESULT"] == outcome


async def test_wrong_keys_and_silence_retry_then_an_agent_takes_the_call(flow):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    menu = flow.menu("main")
    root = await c.post("/twilio/voice/menu/main/choice?invalid=0&timeouts=0", Digits="7")
    assert [e.text for e in root] == [menu.invalid_prompt.text, "/twilio/voice/menu/main?invalid=1&timeouts=0"]
    root = await c.post("/twilio/voice/menu/main/choice?invalid=1&timeouts=0")       # silence
    assert [e.text for e in root] == [menu.timeout_prompt.text, "/twilio/voice/menu/main?invalid=1&timeouts=1"]
    root = await c.post(f"/twilio/voice/menu/main/choice?invalid={menu.max_retries}&timeouts=1", Digits="8")
    assert tags(root) == ["Enqueue"] and root[0].text == flow.agent_queue
    assert root[0].get("action") == "/twilio/voice/queue/agents/done"
    assert root[0].get("waitUrl") == "/twilio/voice/queue/agents/wait"
    kinds = [s.kind for s in c.snapshot().ivr_path if s.menu == "hl12319-menu-main"]
    assert kinds.count("invalid") == 2 and kinds.count("timeout") == 1 and "maxretries" in kinds


async def test_queue_wait_leaves_after_the_queues_maximum_and_the_agent_queue_falls_back_to_a_message(flow):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    await c.post("/twilio/voice/menu/main/choice?invalid=0&timeouts=0", Digits="9")      # Mongolian seat
    mongolian = flow.queue("mongolian")
    assert tags(await c.post("/twilio/voice/queue/mongolian/wait", QueueTime="5")) == ["Pause"]
    assert tags(await c.post("/twilio/voice/queue/mongolian/wait",
                             QueueTime=str(mongolian.max_wait_seconds))) == ["Leave"]
    root = await c.post("/twilio/voice/queue/mongolian/done", QueueResult="leave", QueueTime="300")
    assert tags(root) == ["Enqueue"] and root[0].text == "agents"
    root = await c.post("/twilio/voice/queue/agents/done", QueueResult="leave", QueueTime="300")
    assert tags(root) == ["Say", "Record"] and root[0].text == flow.system_prompt("queue-busy").text
    assert root[1].get("action") == "/twilio/voice/message/queue_unavailable/done"
    assert root[1].get("maxLength") == str(flow.after_hours.max_message_seconds)


async def test_an_agent_takes_the_caller_from_the_queue(flow):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    await c.post("/twilio/voice/menu/main/choice?invalid=0&timeouts=0", Digits="0")
    agent = twiml(c.voice.agent_dequeue("agents", "client:wangfang"))
    [dial] = agent
    assert dial.tag == "Dial" and dial[0].tag == "Queue" and dial[0].text == "agents"
    assert dial[0].get("url") == "/twilio/voice/queue/agents/bridged?agent=client%3Awangfang"
    c.now += 12
    c.voice.queue_bridged(c.sid, "agents", "client:wangfang", {"QueueTime": "12"})
    snap = c.snapshot()
    assert (snap.queue, snap.agent, snap.queue_wait_s) == ("agents", "client:wangfang", 12.0)
    assert tags(await c.post("/twilio/voice/queue/agents/done", QueueResult="bridged", QueueTime="12")) == ["Hangup"]
    assert c.end().disposition is Disposition.AGENT


async def test_a_caller_who_hangs_up_in_the_queue_abandoned(flow):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    await c.post("/twilio/voice/menu/main/choice?invalid=0&timeouts=0", Digits="1")
    await c.post("/twilio/voice/queue/agents/done", QueueResult="hangup", QueueTime="40")
    snap = c.end()
    assert snap.disposition is Disposition.ABANDONED and snap.queue_wait_s == 40.0


async def test_after_hours_a_message_is_recorded_and_reported(flow):
    c = Call(flow, Directory(open_now=False))
    root = await c.post("/twilio/voice/incoming")
    assert tags(root) == ["Say", "Record"] and root[0].text == flow.after_hours.prompt.text
    record = root[1]
    assert record.get("action") == "/twilio/voice/message/after_hours/done" and record.get("finishOnKey") == "#"
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Recordings/RE{'1' * 32}"
    root = await c.follow(root, RecordingUrl=url, RecordingDuration="14", RecordingSid="RE" + "1" * 32)
    assert tags(root) == ["Say", "Hangup"] and root[0].text == flow.system_prompt("message-thanks").text
    snap = c.end()
    assert snap.recordings == [url + ".wav"]
    assert snap.disposition is Disposition.VOICEMAIL
    assert snap.variables["HOTLINE_AFTER_HOURS"] == "1"


async def test_ticket_status_reads_the_state_and_returns_to_the_menu(flow):
    status = TicketStatus("12319-20261127-00042", "in_progress", "处置中", datetime.now(timezone.utc))
    c = Call(flow, Directory(states={status.number: status}))
    await c.post("/twilio/voice/incoming")
    root = await c.post("/twilio/voice/menu/main/choice?invalid=0&timeouts=0", Digits="3")
    [gather] = root
    assert gather.get("input") == "dtmf" and gather.get("finishOnKey") == "#"
    assert gather[0].text == flow.menu("main").option("3").prompt.text
    root = await c.follow(root, Digits="0000000000000")
    assert root[0].text == flow.system_prompt("ticket-not-found").text and root[1].tag == "Gather"
    root = await c.follow(root, Digits="2026112700042")
    assert [e.text for e in root] == [dict(flow.ticket_state_prompts)["in_progress"].text, "/twilio/voice/menu/main"]
    assert c.end().disposition is Disposition.SELF_SERVED


async def test_a_repeat_caller_is_offered_the_district_of_the_open_ticket(flow):
    open_ticket = TicketStatus("12319-20261127-00042", "dispatched", "已派遣", datetime.now(timezone.utc),
                               district_code="150404")
    c = Call(flow, Directory(tickets=[open_ticket]))
    await c.post("/twilio/voice/incoming")
    root = await c.post("/twilio/voice/menu/main/choice?invalid=0&timeouts=0", Digits="2")
    assert root[0].text == "/twilio/voice/offer/districts?district=150404"
    root = await c.follow(root)
    assert root[0].tag == "Gather" and "松山区" in root[0][0].text
    root = await c.follow(root, Digits="1")
    assert root[0].tag == "Dial" and root[0][0].text == "+864765812319"


async def test_a_replayed_webhook_gets_the_same_answer_and_changes_nothing(flow):
    c = Call(flow)
    await c.post("/twilio/voice/incoming")
    first = await c.voice.handle("menu/main/choice", params(c.sid, Digits="2"), {"invalid": "0", "timeouts": "0"})
    again = await c.voice.handle("menu/main/choice", params(c.sid, Digits="2"), {"invalid": "0", "timeouts": "0"})
    assert first == again and c.voice.replays == 1
    assert [s.kind for s in c.snapshot().ivr_path].count("choice") == 1
    c.end()
    assert twiml(await c.voice.handle("menu/main", params(c.sid), {}))[0].tag == "Hangup"
    c.voice.status(params(c.sid, status="completed"))           # a replayed status callback
    assert len(c.ended) == 1


async def test_malformed_and_unknown_requests_are_refused(flow):
    c = Call(flow)
    with pytest.raises(ValueError):
        await c.voice.handle("incoming", params("not-a-sid"), {})
    with pytest.raises(LookupError):
        await c.voice.handle("menu/main", params(new_sid()), {})        # no 'incoming' first
    await c.post("/twilio/voice/incoming")
    with pytest.raises(LookupError):
        await c.post("/twilio/voice/menu/nope")
    with pytest.raises(LookupError):
        await c.post("/twilio/voice/queue/nope/done")

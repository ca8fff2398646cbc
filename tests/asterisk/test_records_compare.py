"""The comparison of the tier (asterisk_records.compare) finds what differs: it runs without
Asterisk, on records shaped like those a tier run produced."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from types import SimpleNamespace

from asterisk_records import asterisk_calls, compare

T = 1796663000.0


def cdr(seq: int, start: float, end: float, **kw) -> dict[str, str]:
    row = dict(linkedid="1796663000.5", uniqueid="1796663000.5", src="13904761005", dst="s", dcontext="hl12319-menu-main",
               channel="PJSIP/district-trunk-00000005", dstchannel="", lastapp="WaitExten", disposition="ANSWERED",
               start=f"{T + start:.6f}", answer=f"{T + start + 0.01:.6f}", end=f"{T + end:.6f}",
               duration=str(int(end - start)), billsec=str(int(end - start)), sequence=str(seq))
    row.update(kw)
    return row


# a busy district line, the fallback queue, an agent (as in a tier run)
CDR = [cdr(1, 0, 4.5, dst="150402", dcontext="hl12319-district", dstchannel="PJSIP/district-trunk-00000009",
           lastapp="Dial", disposition="BUSY"),
       cdr(7, 4.5, 12.0, dst="agents", dcontext="hl12319-queue", dstchannel="PJSIP/agent-1002-0000000c",
           lastapp="Queue", answer=f"{T + 4.5:.6f}")]
QUEUE_LOG = [[str(int(T + 5)), "1796663000.5", "agents", "NONE", "ENTERQUEUE", "", "13904761005", "1"],
             [str(int(T + 9)), "1796663000.5", "agents", "坐席1002", "CONNECT", "4", "1796663009.12", "0"],
             [str(int(T + 12)), "1796663000.5", "agents", "坐席1002", "COMPLETEAGENT", "4", "3", "1"]]


def at(s: float) -> datetime:
    return datetime.fromtimestamp(T + s, timezone.utc)


def call(**kw) -> SimpleNamespace:
    row = SimpleNamespace(call_id="1796663000.5", caller="13904761005", started_at=at(0), answered_at=at(0.01),
                          ended_at=at(12.0), queue="agents", queue_wait_s=4.0, agent="坐席1002", disposition="agent",
                          variables={"HOTLINE_TRANSFER_FAILED": "150402"},
                          transfers=[{"kind": "district_line", "district_code": "150402", "result": "busy"}])
    for k, v in kw.items():
        setattr(row, k, v)
    return row


def test_a_matching_call_has_no_differences():
    [ast] = asterisk_calls(CDR, QUEUE_LOG).values()
    assert [c["sequence"] for c in ast.cdrs] == ["1", "7"] and len(ast.queue) == 3
    assert compare(call(), ast) == []


def test_each_difference_is_named():
    [ast] = asterisk_calls(CDR, QUEUE_LOG).values()
    busy_was_answered = [{"kind": "district_line", "district_code": "150402", "result": "answered"}]
    cases = {
        "caller": call(caller="13904761006"),
        "start": call(started_at=at(2.5)),
        "end": call(ended_at=at(30)),
        "transfer": call(transfers=busy_was_answered),
        "district transfer(s)": call(transfers=[]),
        "agent": call(agent="坐席1001"),
        "queue wait": call(queue_wait_s=9.0),
        "disposition": call(disposition="abandoned"),
        "queue ": call(queue="mongolian"),
    }
    for word, wrong in cases.items():
        problems = compare(wrong, ast)
        assert any(word in p for p in problems), (word, problems)


def test_an_adopted_call_is_not_held_to_the_hold_time_it_could_not_see():
    [ast] = asterisk_calls(CDR, QUEUE_LOG).values()
    assert compare(call(queue_wait_s=None), ast, adopted=True) == []
    assert compare(call(queue_wait_s=None), ast) != []


def test_an_agent_without_a_connect_is_a_difference():
    log = [line for line in copy.deepcopy(QUEUE_LOG) if line[4] == "ENTERQUEUE"]
    [ast] = asterisk_calls(CDR, log).values()
    assert any("no CONNECT" in p for p in compare(call(), ast))

"""Message look-ups stay case-insensitive and first-value-wins, also once indexed and after edits."""

from __future__ import annotations

from ivr.ami.messages import Message


def test_lookups_before_and_after_the_index_agree():
    m = Message([("Event", "Newchannel"), ("Channel", "SIP/a-1"), ("ChanVariable", "A=1"), ("ChanVariable", "B=2")])
    answers = [m.get("channel"), m.get("CHANNEL"), m.get("ChanVariable"), m.get("Missing", "-"), m.get("missing")]
    assert answers == ["SIP/a-1", "SIP/a-1", "A=1", "-", None]      # first scan, then the index
    assert m["Event"] == "Newchannel" and "chanvariable" in m and "nope" not in m


def test_the_index_follows_appended_and_replaced_headers():
    m = Message([("Event", "Cdr")])
    assert m.get("Event") == "Cdr" and m.get("UserField") is None   # second look-up builds the index
    m.headers.append(("UserField", ""))                              # as the simulator's Command output does
    assert m.get("userfield") == ""
    m.headers = [("Response", "Success"), ("ActionID", "7")]
    assert m.get("actionid") == "7" and m.get("Event") is None
    assert Message([("A", "1")]) == Message([("A", "1")])            # the index is not part of equality

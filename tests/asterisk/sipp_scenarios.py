"""sipp scenarios of the Asterisk tier: a citizen who calls 12319 and keys RFC 2833 DTMF, the
trunk's far end (the district receiving lines), agent desk phones and their registration.

Callers' numbers carry the far ends' behaviour, so one sipp process can play every district line
and every agent phone: ``1390476`` + a mode digit + three digits (:func:`caller_number`).

===== ===================================================== ==================================
mode  district line (trunk far end)                          agent phone
===== ===================================================== ==================================
0     answers at once, waits for the BYE                     answers, hangs up after 3 s
1     busy (486)                                             same as 0
2     rings and never answers (Asterisk cancels after 30 s)  same as 0
3     answers at once, waits for the BYE                     answers, hangs up after 25 s
4     busy (486)                                             rings, never answers
===== ===================================================== ==================================

A citizen's script is a list of steps: ``("wait", seconds)``, ``("dtmf", "123#")`` (RFC 2833),
``("speak",)`` (7 s of G.711 A-law speech, sipp's own capture), and it ends with ``("hangup",)``
(the citizen sends BYE) or ``("await_bye", seconds)`` (Asterisk hangs up within that time) or
``("vanish",)`` (the citizen's phone disappears without a BYE: sipp stops and sends nothing more).
"""

from __future__ import annotations

import struct
from pathlib import Path
from xml.sax.saxutils import escape

MODE_ANSWER, MODE_BUSY, MODE_NOANSWER, MODE_LONG_TALK, MODE_NOBODY = "0", "1", "2", "3", "4"
AGENT_TALK_MS = {"0": 3000, "1": 3000, "2": 3000, "3": 25000, "4": 0}
SPEECH_PCAP = Path("/usr/share/sip-tester/g711a.pcap")      # 7.05 s of A-law speech
SPEECH_SECONDS = 7.1


def caller_number(mode: str, seq: int) -> str:
    """``13904760123``: an 11-digit mobile number whose 8th digit is the far ends' mode."""
    if mode not in AGENT_TALK_MS or not 0 <= seq < 1000:
        raise ValueError(f"mode {mode!r} / seq {seq}")
    return f"1390476{mode}{seq:03d}"


_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def write_dtmf_pcap(path: Path, digit: str, occurrence: int) -> Path:
    """An RFC 4733 event for ``digit`` as sipp's ``play_pcap_audio`` plays it: 140 ms of event
    packets and three end packets, every 20 ms. sipp sends the RTP as captured, and Asterisk drops
    an event whose timestamp it has just seen end, so each key press of a call gets its own
    sequence numbers and timestamp (``occurrence``); the pcaps sipp ships all share one.
    """
    event = _EVENTS[digit]
    seq0, ts = 1000 + 20 * occurrence, 8000 + 8000 * occurrence
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]   # pcap header, Ethernet
    packets = [(i, False) for i in range(7)] + [(7, True)] * 3
    for n, (i, end) in enumerate(packets):
        rtp = struct.pack("!BBHII", 0x80, (0x80 if n == 0 else 0) | 101, (seq0 + min(n, 7)) & 0xFFFF, ts, 0x0E05384E)
        rtp += struct.pack("!BBH", event, (0x80 if end else 0) | 10, 160 * (i + 1))
        udp = struct.pack("!HHHH", 5000, 5002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\0" * 12 + b"\x08\x00" + ip
        usec = 20_000 * min(n, 7) + n
        out.append(struct.pack("<IIII", 1, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


_SDP = """v=0
o=citizen 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv"""


def _msg(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines()]
    return "<![CDATA[\n" + "\n".join(lines) + "\n\n]]>"


def citizen_scenario(caller: str, steps: list[tuple], pcap_dir: Path) -> str:
    """The UAC scenario of one citizen's call (see the module docstring for ``steps``); the DTMF
    pcaps it plays are written into ``pcap_dir``."""
    head = f"""
      INVITE sip:12319@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      To: <sip:12319@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      {_SDP}"""
    parts = [f'<send retrans="500">{_msg(head)}</send>',
             '<recv response="100" optional="true"/>', '<recv response="180" optional="true"/>',
             '<recv response="183" optional="true"/>', '<recv response="200" rtd="true"/>',
             f"""<send>{_msg(f'''
      ACK sip:12319@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      To: <sip:12319@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0''')}</send>"""]
    ending = steps[-1]
    presses = 0
    for step in steps[:-1]:
        if step[0] == "wait":
            parts.append(f'<pause milliseconds="{int(step[1] * 1000)}"/>')
        elif step[0] == "speak":
            parts.append(f'<nop><action><exec play_pcap_audio="{SPEECH_PCAP}"/></action></nop>')
            parts.append(f'<pause milliseconds="{int(SPEECH_SECONDS * 1000)}"/>')
        elif step[0] == "dtmf":
            for digit in step[1]:
                pcap = write_dtmf_pcap(pcap_dir / f"{caller}-{presses}.pcap", digit, presses)
                presses += 1
                parts.append(f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
                parts.append('<pause milliseconds="400"/>')
        else:
            raise ValueError(f"unknown step {step!r}")
    if ending[0] == "hangup":
        parts.append(f"""<send retrans="500">{_msg(f'''
      BYE sip:12319@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      To: <sip:12319@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0''')}</send>""")
        parts.append('<recv response="200" crlf="true"/>')
    elif ending[0] == "await_bye":
        parts.append(f'<recv request="BYE" timeout="{int(ending[1] * 1000)}"/>')
        parts.append(f"<send>{_msg(_OK_NO_BODY)}</send>")
    elif ending[0] == "vanish":
        pass          # no BYE: the scenario ends, sipp sends nothing more for this call
    else:
        raise ValueError(f"a script ends with hangup, await_bye or vanish, not {ending!r}")
    return _scenario(f"citizen {caller}", parts)


_OK_NO_BODY = """
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0"""

_RESPONSE = """
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]U[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0"""

_ANSWER = """
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]U[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=farend 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv"""


def _options_branch() -> list[str]:
    """A qualify (OPTIONS) arriving instead of an INVITE is answered 200 and ends there."""
    return ['<label id="options"/>', f"<send>{_msg(_OK_NO_BODY)}</send>", '<nop next="end"/>']


def _first_recv() -> list[str]:
    return ['<recv request="OPTIONS" optional="true" next="options"/>',
            '<recv request="INVITE" rrs="true"><action>'
            '<ereg regexp="sip:1390476[14]" search_in="hdr" header="From:" check_it="false" assign_to="busy"/>'
            '<ereg regexp="sip:1390476(2)" search_in="hdr" header="From:" check_it="false" assign_to="noans"/>'
            '<ereg regexp="sip:1390476(4)" search_in="hdr" header="From:" check_it="false" assign_to="nobody"/>'
            '<ereg regexp="sip:1390476(3)" search_in="hdr" header="From:" check_it="false" assign_to="longtalk"/>'
            '<ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote_from"/>'
            '<ereg regexp="([0-9]+) INVITE" search_in="hdr" header="CSeq:" check_it="true" '
            'assign_to="trash2,invite_cseq"/>'
            '<ereg regexp="&lt;(sip:[^&gt;]*)&gt;" search_in="hdr" header="Contact:" check_it="true" '
            'assign_to="trash,remote_contact"/>'
            '</action></recv>',
            '<Reference variables="trash,trash2,remote_from,remote_contact,invite_cseq,busy,noans,nobody,longtalk"/>']


def line_scenario() -> str:
    """The district receiving lines behind the trunk (UAS; behaviour by the caller's mode)."""
    parts = _first_recv() + [
        '<nop next="busy" test="busy"/>',
        f"<send>{_msg(_RESPONSE.format(status='180 Ringing'))}</send>",
        '<nop next="ringing" test="noans"/>',
        f'<send retrans="500">{_msg(_ANSWER)}</send>',
        '<recv request="ACK"/>',
        '<recv request="BYE" timeout="300000"/>',
        f"<send>{_msg(_OK_NO_BODY)}</send>",
        '<nop next="end"/>',
        '<label id="busy"/>',
        f"<send>{_msg(_RESPONSE.format(status='486 Busy Here'))}</send>",
        '<recv request="ACK"/>',
        '<nop next="end"/>',
    ] + _ringing_branch() + _options_branch() + ['<label id="end"/>']
    return _scenario("district lines", parts)


def agent_scenario(seat: str) -> str:
    """An agent's desk phone (UAS): answers at once and hangs up after the caller's talk time."""
    bye = _msg(f"""
      BYE [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{seat}@[local_ip]:[local_port]>;tag=[pid]U[call_number]
      To:[$remote_from]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{seat}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0""")
    parts = _first_recv() + [
        f"<send>{_msg(_RESPONSE.format(status='180 Ringing'))}</send>",
        '<nop next="ringing" test="nobody"/>',
        f'<send retrans="500">{_msg(_ANSWER)}</send>',
        '<recv request="ACK"/>',
        '<nop next="long" test="longtalk"/>',
        f'<recv request="BYE" timeout="{AGENT_TALK_MS["0"]}" ontimeout="hangup"/>',
        f"<send>{_msg(_OK_NO_BODY)}</send>",
        '<nop next="end"/>',
        '<label id="long"/>',
        f'<recv request="BYE" timeout="{AGENT_TALK_MS["3"]}" ontimeout="hangup"/>',
        f"<send>{_msg(_OK_NO_BODY)}</send>",
        '<nop next="end"/>',
        '<label id="hangup"/>',
        f'<send retrans="500">{bye}</send>',
        '<recv response="200" crlf="true"/>',
        '<nop next="end"/>',
    ] + _ringing_branch() + _options_branch() + ['<label id="end"/>']
    return _scenario(f"agent phone {seat}", parts)


def _ringing_branch() -> list[str]:
    """Ring until the caller gives up: CANCEL, 200, 487, ACK."""
    return ['<label id="ringing"/>',
            '<recv request="CANCEL" timeout="600000"/>',
            f"<send>{_msg(_OK_NO_BODY)}</send>",
            f"<send>{_msg(_RESPONSE.format(status='487 Request Terminated').replace('[last_CSeq:]', 'CSeq: [$invite_cseq] INVITE'))}</send>",
            '<recv request="ACK"/>',
            '<nop next="end"/>']


def register_scenario(seat: str, password: str, contact_host: str, contact_port: int) -> str:
    """A desk phone registering its seat (digest authentication, as a real phone does)."""
    def register(cseq: int, auth: str) -> str:
        return _msg(f"""
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{seat}@[remote_ip]>;tag=[pid]R[call_number]
      To: <sip:{seat}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:{seat}@{contact_host}:{contact_port}>
      {auth}
      Expires: 3600
      Max-Forwards: 70
      Content-Length: 0""")
    parts = [f'<send retrans="500">{register(1, "")}</send>',
             '<recv response="401" auth="true"/>',
             f'<send retrans="500">{register(2, f"[authentication username={seat} password={escape(password)}]")}</send>',
             '<recv response="200"/>']
    return _scenario(f"register {seat}", parts)


def _scenario(name: str, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<scenario name="{escape(name)}">\n{body}\n</scenario>\n')

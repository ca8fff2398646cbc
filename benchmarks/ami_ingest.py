"""AMI ingest benchmark and correctness probes: ivr.ami vs panoramisk, asterisk-ami, pyst2.

A local TCP server (a thread in this process) logs the client in and then streams
N events built from the real Asterisk 20 fixtures, ended by ``Event: BenchEnd``.
Each client runs in its own subprocess (its own interpreter/venv, because
asterisk-ami and pyst2 both install a top-level ``asterisk`` package) and
reports events/s parsed and dispatched to a callback. Correctness probes replay
small scenarios (UTF-8 split across reads, ChanVariable, empty last header,
idle connection, raising callback, responses out of order, event lists).

    .venv/bin/python benchmarks/ami_ingest.py --events 200000 \
        --python panoramisk=/tmp/bench-pano/bin/python \
        --python asterisk-ami=/tmp/bench-pyami/bin/python \
        --python pyst2=/tmp/bench-pyst2/bin/python \
        --out benchmarks/results/ami_ingest.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "asterisk-20"
LIBS = ["ivr.ami", "ivr.ami-pure", "bare-split", "panoramisk", "asterisk-ami", "pyst2"]
#: ``ivr.ami-pure``: our client with its C fast path switched off (IVR_AMI_PURE_PYTHON=1), i.e. what
#: an install without a C compiler runs
END = b"Event: BenchEnd\r\nPrivilege: user,all\r\n\r\n"


# ----------------------------------------------------------------------------- server
def fixture_events() -> list[bytes]:
    sys.path.insert(0, str(ROOT))
    from ivr.ami.protocol import parse_stream

    out = []
    for path in sorted(FIXTURES.glob("[0-9]*.txt")):
        for msg in parse_stream(path.read_bytes()):
            if msg.is_event and msg.action_id is None:
                out.append(msg.encode())
    return out


def build_stream(n: int) -> bytes:
    events = fixture_events()
    reps, rest = divmod(n, len(events))
    return b"".join(events) * reps + b"".join(events[:rest]) + END


def _blocks(data: bytes):
    """Yield complete blank-line-terminated action blocks from a growing buffer."""
    buf = data
    while b"\r\n\r\n" in buf or b"\n\n" in buf:
        i = buf.find(b"\r\n\r\n")
        j = buf.find(b"\n\n")
        cut, width = (i, 4) if i >= 0 and (j < 0 or i <= j) else (j, 2)
        yield buf[:cut]
        buf = buf[cut + width :]
    return buf


def parse_action(block: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        k, _, v = line.partition(":")
        out.setdefault(k.strip().lower(), v.strip())
    return out


class Server:
    """One connection at a time; ``scenario(send)`` runs after a successful Login."""

    def __init__(self, scenario, replies=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.scenario = scenario
        self.replies = replies  # callable(action, send) for non-login actions, or None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        lock = threading.Lock()

        def send(data: bytes):
            with lock:
                conn.sendall(data)

        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                buf += data
                gen = _blocks(buf)
                while True:
                    try:
                        block = next(gen)
                    except StopIteration as stop:
                        buf = stop.value
                        break
                    action = parse_action(block)
                    name = action.get("action", "").lower()
                    aid = action.get("actionid", "")
                    if name == "login":
                        send(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n".encode())
                        threading.Thread(target=self._run_scenario, args=(send,), daemon=True).start()
                    elif name == "logoff":
                        send(f"Response: Goodbye\r\nActionID: {aid}\r\nMessage: Thanks for all the fish.\r\n\r\n".encode())
                        conn.close()
                        return
                    elif self.replies is not None:
                        self.replies(action, send)
                    elif name == "ping":
                        send(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\nTimestamp: {time.time():.6f}\r\n\r\n".encode())
                    else:
                        send(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
        except OSError:
            pass
        finally:
            conn.close()

    def _run_scenario(self, send):
        try:
            self.scenario(send)
        except OSError:  # the client under test went away (or crashed) first
            pass

    def close(self):
        self.sock.close()


def stream_scenario(blob: bytes, chunk: int = 1 << 16):
    def run(send):
        # send only whole messages per write so replies can never split one
        pos = 0
        while pos < len(blob):
            end = blob.find(b"\r\n\r\n", pos + chunk)
            end = len(blob) if end < 0 else end + 4
            try:
                send(blob[pos:end])
            except OSError:  # a client stopped at its time budget
                return
            pos = end

    return run


# --------------------------------------------------------------------------- probes
NEWCHANNEL = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: SIP/100-00000001\r\nChannelState: 0\r\n"
    "ChannelStateDesc: Down\r\nCallerIDNum: 13904761234\r\nCallerIDName: 张三\r\nUniqueid: hotline-test-1.1\r\n"
)


def probe_utf8(send):
    data = (NEWCHANNEL + "\r\n").encode()
    cut = data.index("张".encode()) + 1
    send(data[:cut])
    time.sleep(0.3)
    send(data[cut:] + END)


def probe_chanvariable(send):
    send((NEWCHANNEL + "ChanVariable: CASE_ID=42\r\nChanVariable: HOTLINE_DISTRICT=hongshan\r\n\r\n").encode() + END)


def probe_empty_last(send):
    send(b"Event: Cdr\r\nPrivilege: cdr,all\r\nAccountCode: acct-42\r\nDisposition: ANSWERED\r\nUserField: \r\n\r\n" + END)


def probe_idle(send):
    time.sleep(5.0)
    send(b"Event: Probe\r\nPrivilege: user,all\r\n\r\n" + END)


def probe_callback_exc(send):
    send(b"Event: Boom\r\nPrivilege: user,all\r\n\r\n")
    time.sleep(0.2)
    send(b"Event: Probe\r\nPrivilege: user,all\r\n\r\n" + END)


class ReverseReplies:
    """Hold the first Getvar; answer the second one first, then the first."""

    def __init__(self):
        self.held: list[dict] = []

    def __call__(self, action, send):
        if action.get("action", "").lower() != "getvar":
            send(f"Response: Success\r\nActionID: {action.get('actionid','')}\r\nPing: Pong\r\n\r\n".encode())
            return
        self.held.append(action)
        if len(self.held) == 2:
            for a in reversed(self.held):
                send(
                    f"Response: Success\r\nActionID: {a.get('actionid','')}\r\nVariable: {a.get('variable')}\r\n"
                    f"Value: value-of-{a.get('variable')}\r\n\r\n".encode()
                )


def list_replies(action, send):
    aid = action.get("actionid", "")
    if action.get("action", "").lower() == "coreshowchannels":
        items = "".join(
            f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: Local/s@hold-0000000{i};1\r\nUniqueid: u.{i}\r\n\r\n"
            for i in (1, 2)
        )
        send(
            f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n{items}"
            f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n".encode()
        )
    else:
        send(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())


class PingSeenReplies:
    """Answer every action; ``Seen: n`` = how often this ActionID was already used."""

    def __init__(self):
        self.ids: list[str] = []

    def __call__(self, action, send):
        aid = action.get("actionid", "")
        seen = self.ids.count(aid)
        self.ids.append(aid)
        extra = "Message: Originate successfully queued\r\n" if action.get("action", "").lower() == "originate" else "Ping: Pong\r\n"
        send(f"Response: Success\r\nActionID: {aid}\r\nSeen: {seen}\r\n{extra}\r\n".encode())


PROBES = {
    "utf8_split": ("UTF-8 name split across two TCP reads arrives intact", probe_utf8, None),
    "chanvariable": ("two ChanVariable headers: both kept, reader alive", probe_chanvariable, None),
    "empty_last_header": ("empty last header (`UserField: `) kept", probe_empty_last, None),
    "idle": ("event after 5 s of silence is still received", probe_idle, None),
    "callback_exception": ("a raising callback does not stop later events", probe_callback_exc, None),
    "actionid_order": ("two Getvar answered in reverse order reach the right callers", lambda send: None, "reverse"),
    "event_list": ("CoreShowChannels call returns its 2 items", lambda send: None, "list"),
    "actionid_unique": ("three Pings carry three distinct ActionIDs", lambda send: None, "seen"),
    "originate_no_async": ("Originate without an `Async` header resolves", lambda send: None, "seen"),
}


# ------------------------------------------------------------------ client adapters
def run_client(lib: str, port: int, mode: str, timeout: float) -> dict:
    """Executed in the subprocess. ``mode`` is ``stream`` or a probe name."""
    if lib in ("ivr.ami", "ivr.ami-pure"):
        from ivr.ami import protocol

        assert (protocol._parse_run is None) == (lib == "ivr.ami-pure"), "C fast path not as asked"
        return _run_ours(port, mode, timeout)
    if lib == "bare-split":
        return _run_bare(port, mode, timeout)
    if lib == "panoramisk":
        return _run_pano(port, mode, timeout)
    if lib == "asterisk-ami":
        return _run_pyami(port, mode, timeout)
    if lib == "pyst2":
        return _run_pyst2(port, mode, timeout)
    raise SystemExit(f"unknown lib {lib}")


class Collector:
    """Counts events; keeps the non-bulk ones; signals on BenchEnd."""

    def __init__(self, keep: bool):
        self.count = 0
        self.keep = keep
        self.kept: list[dict] = []
        self.done = threading.Event()
        self.t_end = 0.0
        self.cpu_first = self.cpu_end = 0.0  # process CPU time (all threads) at the first event / BenchEnd

    def add(self, name: str, headers_fn, raise_on_boom=True):
        self.count += 1
        if self.count == 1:
            self.cpu_first = time.process_time()
        if name == "BenchEnd":
            self.t_end = time.perf_counter()
            self.cpu_end = time.process_time()
            self.done.set()
            return
        if self.keep:
            self.kept.append({"name": name, **headers_fn()})
        if name == "Boom" and raise_on_boom:
            raise RuntimeError("callback bug")


def _verdict(mode: str, col: Collector, extra: dict) -> dict:
    kept = {e["name"]: e for e in col.kept}
    if mode == "utf8_split":
        got = kept.get("Newchannel", {}).get("CallerIDName")
        return {"ok": got == "张三", "detail": repr(got)}
    if mode == "chanvariable":
        got = kept.get("Newchannel", {}).get("ChanVariable")
        ok = col.done.is_set() and got == {"CASE_ID": "42", "HOTLINE_DISTRICT": "hongshan"}
        return {"ok": ok, "detail": f"{got!r}; reader alive={col.done.is_set()}"}
    if mode == "empty_last_header":
        cdr = kept.get("Cdr", {})
        return {"ok": cdr.get("UserField") == "", "detail": f"UserField={cdr.get('UserField')!r}"}
    if mode in ("idle", "callback_exception"):
        return {"ok": "Probe" in kept and col.done.is_set(), "detail": "received" if "Probe" in kept else "lost"}
    if mode == "actionid_order":
        return {"ok": extra.get("a") == "value-of-A" and extra.get("b") == "value-of-B", "detail": f"A->{extra.get('a')!r} B->{extra.get('b')!r}"}
    if mode == "event_list":
        n = extra.get("items")
        return {"ok": n == 2, "detail": f"items={n!r}"}
    if mode == "actionid_unique":
        seen = extra.get("seen")
        return {"ok": seen == ["0", "0", "0"], "detail": f"Seen={seen}"}
    if mode == "originate_no_async":
        return {"ok": extra.get("originate") == "Success", "detail": f"reply={extra.get('originate')!r}"}
    return {}


def _run_ours(port, mode, timeout):
    import asyncio

    sys.path.insert(0, str(ROOT))
    from ivr.ami.client import AmiClient

    async def main():
        col = Collector(mode != "stream")
        client = AmiClient("127.0.0.1", port, username="bench", secret="bench", ping_interval=None, action_timeout=timeout)
        client.on(None, lambda m: col.add(m.name, lambda: {**m.as_dict(), "ChanVariable": m.variables() or None}))
        t0 = time.perf_counter()
        await client.connect()
        t_login = time.perf_counter()
        extra = {}
        if mode == "actionid_order":
            a, b = await asyncio.gather(client.send_action("Getvar", Variable="A"), client.send_action("Getvar", Variable="B"))
            extra = {"a": a.get("Value"), "b": b.get("Value")}
            col.done.set()
        elif mode == "event_list":
            res = await client.send_action("CoreShowChannels")
            extra = {"items": len(res.events)}
            col.done.set()
        elif mode == "actionid_unique":
            extra = {"seen": [(await client.send_action("Ping")).get("Seen") for _ in range(3)]}
            col.done.set()
        elif mode == "originate_no_async":
            r = await client.send_action("Originate", Channel="Local/1@x", Application="Wait", Data="1")
            extra = {"originate": r.response.name}
            col.done.set()
        else:
            end = time.monotonic() + timeout
            while not col.done.is_set() and time.monotonic() < end:
                await asyncio.sleep(0.005)
        await client.close(logoff=False)
        return col, t0, t_login, extra

    col, t0, t_login, extra = asyncio.run(main())
    return _result(mode, col, t_login, extra)


def _result(mode, col, t_login, extra):
    if mode == "stream":
        if not col.done.is_set():  # time budget spent: report the steady-state rate so far
            return {"events": col.count, "seconds": time.perf_counter() - t_login, "partial": True, "cpu_us": _cpu_us(col)}
        return {"events": col.count - 1, "seconds": col.t_end - t_login, "cpu_us": _cpu_us(col)}
    return _verdict(mode, col, extra)


def _cpu_us(col):
    """Client CPU time per event (user+sys, all threads), first event to BenchEnd: less
    sensitive than wall time to other load on a shared machine."""
    end = col.cpu_end or time.process_time()
    return (end - col.cpu_first) / max(1, col.count - 1) * 1e6


def _run_bare(port, mode, timeout):
    """The naive loop: split on CRLFCRLF, decode each block, ``dict(line.split(': '))``."""
    if mode in ("actionid_order", "event_list", "actionid_unique", "originate_no_async"):
        return {"ok": None, "detail": "n/a: no actions"}
    col = Collector(mode != "stream")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"Action: Login\r\nUsername: bench\r\nSecret: bench\r\nActionID: 1\r\n\r\n")
    t_login = time.perf_counter()
    buf = b""
    first = True
    while not col.done.is_set():
        data = s.recv(65536)
        if not data:
            break
        if first:
            buf += data.split(b"\r\n", 1)[1]
            first = False
        else:
            buf += data
        *blocks, buf = buf.split(b"\r\n\r\n")
        for block in blocks:
            d = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                k, _, v = line.partition(": ")
                d[k] = v
            if "Event" in d:
                col.add(d["Event"], lambda d=d: d, raise_on_boom=False)
    s.close()
    return _result(mode, col, t_login, {})


def _run_pano(port, mode, timeout):
    import asyncio

    from panoramisk import Manager

    async def main():
        col = Collector(mode != "stream")
        loop = asyncio.get_running_loop()
        m = Manager(loop=loop, host="127.0.0.1", port=port, username="bench", secret="bench", ping_delay=3600, ping_interval=3600)

        def cb(manager, msg):
            col.add(msg.event, lambda: {**dict(msg), "ChanVariable": msg.getdict("ChanVariable") if "ChanVariable" in msg else None})

        m.register_event("*", cb)
        await m.connect()
        end = time.monotonic() + timeout
        while not m.authenticated and time.monotonic() < end:
            await asyncio.sleep(0.001)
        t_login = time.perf_counter()
        extra = {}
        if mode == "actionid_order":
            a, b = await asyncio.wait_for(asyncio.gather(
                m.send_action({"Action": "Getvar", "Variable": "A"}), m.send_action({"Action": "Getvar", "Variable": "B"})
            ), timeout)
            extra = {"a": a.get("Value"), "b": b.get("Value")}
            col.done.set()
        elif mode == "event_list":
            res = await asyncio.wait_for(m.send_action({"Action": "CoreShowChannels"}), timeout)
            items = [r for r in res if r.get("Event") == "CoreShowChannel"] if isinstance(res, list) else []
            extra = {"items": len(items)}
            col.done.set()
        elif mode == "actionid_unique":
            seen = []
            for _ in range(3):
                r = await asyncio.wait_for(m.send_action({"Action": "Ping"}), timeout)
                seen.append(r.get("Seen"))
            extra = {"seen": seen}
            col.done.set()
        elif mode == "originate_no_async":
            try:
                r = await asyncio.wait_for(m.send_action({"Action": "Originate", "Channel": "Local/1@x", "Application": "Wait", "Data": "1"}), 3)
                extra = {"originate": r.get("Response")}
            except asyncio.TimeoutError:
                extra = {"originate": "never resolved"}
            col.done.set()
        else:
            while not col.done.is_set() and time.monotonic() < end:
                await asyncio.sleep(0.005)
        m.close()
        return col, t_login, extra

    col, t_login, extra = asyncio.run(main())
    return _result(mode, col, t_login, extra)


def _run_pyami(port, mode, timeout):
    from asterisk.ami import AMIClient, SimpleAction

    col = Collector(mode != "stream")
    client = AMIClient(address="127.0.0.1", port=port)  # library default timeout=3

    def on_event(event, **kw):
        def headers():
            keys = dict(event.keys)
            return {**keys, "ChanVariable": keys.get("ChanVariable") or None}

        col.add(event.name, headers)

    client.add_event_listener(on_event)
    login = client.login(username="bench", secret="bench").response  # blocks until answered
    if login is None or login.status != "Success":
        os._exit(_emit({"ok": False, "error": f"login failed: {login}"}))
    t_login = time.perf_counter()
    extra = {}
    if mode == "actionid_order":
        fa = client.send_action(SimpleAction("Getvar", Variable="A"))
        fb = client.send_action(SimpleAction("Getvar", Variable="B"))
        ra, rb = fa.response, fb.response
        extra = {"a": ra.keys.get("Value") if ra else None, "b": rb.keys.get("Value") if rb else None}
        col.done.set()
    elif mode == "event_list":
        res = client.send_action(SimpleAction("CoreShowChannels")).response
        items = getattr(res, "events", None)
        extra = {"items": len(items) if isinstance(items, list) else 0}
        col.done.set()
    elif mode == "actionid_unique":
        rs = [client.send_action(SimpleAction("Ping")).response for _ in range(3)]
        extra = {"seen": [r.keys.get("Seen") if r else None for r in rs]}
        col.done.set()
    elif mode == "originate_no_async":
        r = client.send_action(SimpleAction("Originate", Channel="Local/1@x", Application="Wait", Data="1")).response
        extra = {"originate": r.status if r else None}
        col.done.set()
    else:
        col.done.wait(timeout)
    os._exit(_emit(_result(mode, col, t_login, extra)))  # the listener thread may never stop


def _run_pyst2(port, mode, timeout):
    from asterisk.manager import Manager

    col = Collector(mode != "stream")
    m = Manager()

    def cb(event, manager):
        def headers():
            h = dict(event.headers)
            cv = h.get("ChanVariable")
            return {**h, "ChanVariable": cv if isinstance(cv, dict) and cv else None}

        col.add(event.name, headers)

    m.register_event("*", cb)
    m.connect("127.0.0.1", port)
    m.login("bench", "bench")
    t_login = time.perf_counter()
    extra = {}
    if mode == "actionid_order":
        res = {}

        def ask(var):
            r = m.send_action({"Action": "Getvar", "Variable": var})
            res[var] = r.get_header("Value") if r else None

        ts = [threading.Thread(target=ask, args=(v,), daemon=True) for v in ("A", "B")]
        for t in ts:
            t.start()
            time.sleep(0.05)
        for t in ts:
            t.join(timeout)
        extra = {"a": res.get("A"), "b": res.get("B")}
        col.done.set()
    elif mode == "event_list":
        r = m.send_action({"Action": "CoreShowChannels"})
        extra = {"items": 0 if r is not None else None}  # items are only delivered as events
        col.done.set()
    elif mode == "actionid_unique":
        rs = [m.send_action(Action="Ping") for _ in range(3)]
        extra = {"seen": [r.get_header("Seen") if r else None for r in rs]}
        col.done.set()
    elif mode == "originate_no_async":
        r = m.originate("Local/1@x", "", application="Wait", data="1")
        extra = {"originate": r.get_header("Response") if r else None}
        col.done.set()
    else:
        col.done.wait(timeout)
    os._exit(_emit(_result(mode, col, t_login, extra)))  # pyst2 threads never stop


def _emit(result: dict) -> int:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# ------------------------------------------------------------------------------ driver
def spawn(python: str, lib: str, port: int, mode: str, timeout: float) -> dict:
    cmd = [python, __file__, "--client", lib, "--port", str(port), "--mode", mode, "--timeout", str(timeout)]
    try:
        env = dict(os.environ, IVR_AMI_PURE_PYTHON="1" if lib == "ivr.ami-pure" else "0")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 20, cwd=str(ROOT), env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "hung (killed)"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": err[:160]}
    return json.loads(lines[-1])


CPU_US: dict[str, list[float]] = {}


def measure(python: str, lib: str, blob: bytes, repeat: int, budget: float) -> tuple[list[float], bool, list[int]]:
    rates = []
    delivered = []
    partial = False
    for _ in range(repeat):
        srv = Server(stream_scenario(blob))
        res = spawn(python, lib, srv.port, "stream", timeout=budget)
        srv.close()
        if res.get("seconds"):
            rates.append(res["events"] / res["seconds"])
            delivered.append(res["events"])
            CPU_US.setdefault(lib, []).append(res.get("cpu_us"))
            partial = partial or bool(res.get("partial"))
        else:
            print(f"  {lib}: stream failed: {res}", file=sys.stderr)
    return rates, partial, delivered


def probe(python: str, lib: str, name: str) -> dict:
    _, scenario, replies = PROBES[name]
    rep = {"reverse": ReverseReplies, "list": lambda: list_replies, "seen": PingSeenReplies}.get(replies, lambda: None)()
    srv = Server(scenario, rep)
    res = spawn(python, lib, srv.port, name, timeout=10 if name != "idle" else 15)
    srv.close()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float, default=120, help="seconds per stream run before a partial rate is taken")
    ap.add_argument("--python", action="append", default=[], help="LIB=/path/to/python for a library's venv")
    ap.add_argument("--only", help="comma list of libraries")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--no-stream", action="store_true", help="run only the correctness probes")
    ap.add_argument("--out", help="write a Markdown report here")
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=10, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.client:
        return _emit(run_client(args.client, args.port, args.mode, args.timeout))

    pythons = {"ivr.ami": sys.executable, "ivr.ami-pure": sys.executable, "bare-split": sys.executable}
    for spec in args.python:
        lib, _, py = spec.partition("=")
        if lib not in LIBS or not py:
            ap.error(f"--python expects LIB=PATH with LIB in {LIBS}")
        pythons[lib] = py
    libs = [lib for lib in LIBS if lib in pythons and (not args.only or lib in args.only.split(","))]
    blob = build_stream(args.events)
    print(f"stream: {args.events} events, {len(blob) / 1e6:.1f} MB", file=sys.stderr)
    # round-robin over the libraries so that load from other processes hits all alike
    runs: dict[str, list[float]] = {lib: [] for lib in libs}
    partial: dict[str, bool] = {lib: False for lib in libs}
    delivered: dict[str, list[int]] = {lib: [] for lib in libs}
    load = [os.getloadavg()[0]]
    for _ in range(0 if args.no_stream else args.repeat):
        for lib in libs:
            rates, part, got = measure(pythons[lib], lib, blob, 1, args.budget)
            runs[lib] += rates
            delivered[lib] += got
            partial[lib] = partial[lib] or part
            print(f"{lib:14s} {['%.0f' % r for r in runs[lib]]}", file=sys.stderr)
        load.append(os.getloadavg()[0])
    rows = []
    for lib in libs:
        med = statistics.median(runs[lib]) if runs[lib] else None
        rows.append((lib, med, runs[lib], partial[lib], min(delivered[lib], default=0)))
    args.load = load
    probes = {}
    if not args.no_probes:
        for lib in libs:
            probes[lib] = {name: probe(pythons[lib], lib, name) for name in PROBES}
            print(lib, {k: v.get("ok") for k, v in probes[lib].items()}, file=sys.stderr)
    report = render(args, libs, rows, probes, len(blob))
    if args.out:
        Path(args.out).write_text(report, encoding="utf-8")
    else:
        print(report)
    return 0


def render(args, libs, rows, probes, nbytes) -> str:
    cmd = "python benchmarks/ami_ingest.py " + " ".join(
        a if not a.startswith("/") else a for a in sys.argv[1:]
    )
    lines = [
        "# AMI ingest benchmark",
        "",
        f"Command: `{cmd}`",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs. "
        f"Stream: {args.events} events built from the Asterisk 20 fixture events ({nbytes / 1e6:.1f} MB), "
        f"local TCP, median of {args.repeat} runs, each client in its own process. "
        "Events/s = events parsed and delivered to a callback, from login to `BenchEnd`. "
        "Runs are interleaved across clients; 1-minute load average during the runs: "
        + ", ".join(f"{x:.1f}" for x in getattr(args, "load", [])) + ".",
        "",
    ]
    if not args.no_stream:
        lines += [
            "| client | events/s (median) | runs | CPU µs/event (median) | CPU runs | events delivered (min) |",
            "|---|---:|---|---:|---|---:|",
        ]
    for lib, med, rates, partial, got in rows if not args.no_stream else []:
        note = f" (stopped after the {args.budget:.0f} s budget; rate over the events received)" if partial else ""
        runs = ", ".join(f"{r:,.0f}" for r in rates) + note
        cpus = [c for c in CPU_US.get(lib, []) if c is not None]
        cpu_med = f"{statistics.median(cpus):,.1f}" if cpus else "n/a"
        cpu_runs = ", ".join(f"{c:,.1f}" for c in cpus)
        lines.append(f"| {lib} | {med:,.0f} | {runs} | {cpu_med} | {cpu_runs} | {got:,} |" if med else f"| {lib} | failed | | | | |")
    if probes:
        lines += ["", "## Correctness probes", ""]
        lines.append("| probe | " + " | ".join(libs) + " |")
        lines.append("|---|" + "---|" * len(libs))
        for name, (desc, _, _) in PROBES.items():
            cells = []
            for lib in libs:
                r = probes[lib][name]
                mark = "n/a" if r.get("ok") is None and "n/a" in str(r.get("detail")) else "yes" if r.get("ok") else "**no**"
                detail = r.get("detail") or r.get("error") or ""
                cells.append(f"{mark} ({detail})".replace("|", "\\|"))
            lines.append(f"| {desc} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## How to reproduce",
        "",
        "asterisk-ami and pyst2 both install a top-level `asterisk` package, so each peer gets its own venv:",
        "",
        "```",
        "python3.11 -m venv /tmp/bench-pano && /tmp/bench-pano/bin/pip install panoramisk==1.4",
        "python3.11 -m venv /tmp/bench-pyami && /tmp/bench-pyami/bin/pip install asterisk-ami==0.1.7",
        "python3.11 -m venv /tmp/bench-pyst2 && /tmp/bench-pyst2/bin/pip install pyst2==0.5.1",
        "```",
        "",
        "Then run the command above from the project root. `bare-split` is the naive loop (split on",
        "CRLFCRLF, `dict(line.partition(': '))`) without any client duty: the ceiling for pure-Python",
        "parsing on this machine. The machine was shared with other work (see the load average), so",
        "single runs vary by up to 3x; compare clients within a round rather than across reports.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""The Asterisk tier's machinery: the relocatable Asterisk 20 of ``../shared/asterisk`` running the
project's own ``docker/asterisk`` configuration and the dialplan rendered from the rules, sipp far
ends (district lines, agent phones) and citizens, and a real ``hotline serve`` attached over AMI
and FastAGI. Decision 0012 explains the choices.

Where the shared directory is: ``$HOTLINE_SHARED_DIR``, by default ``<repo>/../shared``.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import yaml

from hotline.rules import load_rules
from ivr.dialplan import render_dialplan
from ivr.flow import flow_from_rules
from ivr.prompts import build_prompts
from sipp_scenarios import agent_scenario, citizen_scenario, line_scenario, register_scenario

ROOT = Path(__file__).resolve().parents[2]
DOCKER_ASTERISK = ROOT / "docker" / "asterisk"
AMI_SECRET = "tier-ami-secret-0012"
AGENT_HOST = "127.0.0.2"          # the agents' LAN: not the trunk's address (127.0.0.1)
SEATS = {"1001": "agents", "1002": "agents", "1003": "agents", "1004": "agents", "2001": "mongolian"}
SEAT_PASSWORD = "seat-pass-{}"
PASSWORD = "tier-pass-0012"
#: CDR fields written by cdr_custom (cdr_custom.conf below), in this order
CDR_FIELDS = ("linkedid", "uniqueid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
              "disposition", "start", "answer", "end", "duration", "billsec", "sequence")


def shared_dir() -> Path:
    return Path(os.environ.get("HOTLINE_SHARED_DIR") or ROOT.parent / "shared")


def asterisk_tarball() -> Path | None:
    found = sorted((shared_dir() / "asterisk").glob("asterisk-*.tar.xz"))
    return found[-1] if found else None


def missing_tools() -> list[str]:
    return [tool for tool in ("sipp", "sox") if shutil.which(tool) is None]


_GIVEN: set[int] = set()      # ports handed out in this process: never twice (the tier starts ~30 sipps at once)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
    raise RuntimeError("no free port not handed out before")


def free_udp_block(size: int, host: str = "127.0.0.1") -> int:
    """The first port of ``size`` consecutive free UDP ports (even, for RTP)."""
    for _ in range(200):
        base = free_port(socket.SOCK_DGRAM, host) & ~1
        if base + size >= 65000 or any(p in _GIVEN for p in range(base + 1, base + size)):
            continue
        socks = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, port))
            _GIVEN.update(range(base, base + size))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {size} free UDP ports")


def fixed_udp_block(size: int, host: str = "127.0.0.1", low: int = 20000, high: int = 32000) -> int:
    """A block of ``size`` free UDP ports below the kernel's ephemeral range (32768+), for Asterisk's
    RTP range: the ports the kernel hands out later (``free_port``, sipp's own ports) can never fall
    inside it, so a sipp started while Asterisk opens RTP ports cannot find its port taken."""
    for base in range(low, high - size, size):
        socks = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {size} free UDP ports in {low}–{high}")


def unpack(tarball: Path, cache: Path) -> Path:
    """Unpack the package once per version into ``cache``; returns the package directory."""
    st = tarball.stat()
    dest = cache / f"{tarball.name.removesuffix('.tar.xz')}-{st.st_size}-{int(st.st_mtime)}"
    done = dest / ".unpacked"
    if not done.exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(dest, filter="tar")
        done.touch()
    pkg = dest / "asterisk"
    if not (pkg / "bin" / "run-asterisk").exists():
        raise RuntimeError(f"{tarball}: no asterisk/bin/run-asterisk inside")
    return pkg


@dataclass
class Ports:
    sip: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    ami: int = field(default_factory=free_port)
    agi: int = field(default_factory=free_port)
    web: int = field(default_factory=free_port)
    lines: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    rtp_start: int = field(default_factory=lambda: fixed_udp_block(400))

    @property
    def rtp_end(self) -> int:
        return self.rtp_start + 399


def tier_rules(source: Path, out: Path, *, open_now: bool) -> Path:
    """The shipped rules with business hours that hold whatever the time of day the tier runs:
    open all day, or one half hour twelve hours away (closed now). Nothing else changes."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    if open_now:
        data["business_hours"]["hours"] = ["00:00-24:00"]
    else:
        now = datetime.now(ZoneInfo(data["calendar"]["timezone"]))
        hour = (now.hour + 12) % 24
        data["business_hours"]["hours"] = [f"{hour:02d}:00-{hour:02d}:30"]
    data["business_hours"]["days"] = "every_day"
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def short_prompt(text: str, wav: Path) -> None:
    """Prompt generator of the tier: 0.3 s of a tone per prompt instead of speech (fast calls)."""
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(wav),
                    "synth", "0.3", "sine", "600", "vol", "0.3"], check=True, capture_output=True)


class Asterisk:
    """One Asterisk instance in ``work`` (keep the path short: the control socket's limit)."""

    def __init__(self, pkg: Path, work: Path, ports: Ports):
        self.pkg, self.work, self.ports = pkg, work, ports
        self.conf = work / "conf"          # ETC_DIR given to run-asterisk
        self.data = work / "data"          # astdatadir
        self.prompts = work / "prompts"
        self.messages_dir = work / "spool" / "hl12319-messages"
        self.recordings_dir = work / "spool" / "monitor" / "hl12319"
        self.pid: int | None = None

    # -- configuration -------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        p = self.ports
        seats = " ".join(f"{n}:{SEAT_PASSWORD.format(n)}" for n in SEATS)
        return dict(os.environ, HOTLINE_AMI_SECRET=AMI_SECRET, HOTLINE_NET="127.0.0.1/32",
                    SIP_TRUNK_NAME="district-trunk", SIP_TRUNK_HOST="127.0.0.1", SIP_TRUNK_PORT=str(p.lines),
                    SIP_TRUNK_MATCH="127.0.0.1", SIP_PUBLIC_ADDRESS="127.0.0.1", SIP_LOCAL_NET="127.0.0.0/8",
                    SIP_BIND="127.0.0.1", SIP_PORT=str(p.sip), AMI_BIND="127.0.0.1", AMI_PORT=str(p.ami),
                    RTP_START=str(p.rtp_start), RTP_END=str(p.rtp_end), HOTLINE_AGENT_SEATS=seats,
                    SIP_RTP_TIMEOUT="60", SIP_RTP_TIMEOUT_HOLD="600",
                    AST_DATA_DIR=str(self.data), AST_START_TIMEOUT="60")

    def configure(self, rules_file: Path) -> None:
        """The project's docker/asterisk files (filled by its own render-config.sh), the base files
        of the package that the container image would bring, the rendered dialplan and prompts."""
        shutil.rmtree(self.conf, ignore_errors=True)
        self.conf.mkdir(parents=True)
        ours = {"pjsip.conf", "manager.conf", "extensions.conf", "queues.conf", "rtp.conf", "musiconhold.conf"}
        for f in (self.pkg / "etc-minimal").iterdir():
            if f.name not in ours:
                shutil.copy(f, self.conf / f.name)
        modules = (self.conf / "modules.conf").read_text()
        (self.conf / "modules.conf").write_text(modules.replace("noload => cdr_custom.so\n", "").replace("noload => res_cdrel_custom.so\n", ""))
        mapping = ",".join(f"${{CSV_QUOTE(${{CDR({f}{',u' if f in ('start', 'answer', 'end') else ''})}})}}"
                           for f in CDR_FIELDS)
        (self.conf / "cdr_custom.conf").write_text(f"[mappings]\nhotline.csv => {mapping}\n")
        subprocess.run(["sh", str(DOCKER_ASTERISK / "render-config.sh"), str(DOCKER_ASTERISK), str(self.conf)],
                       env=self.env(), check=True, capture_output=True)
        self.render(rules_file)
        for d in (self.messages_dir, self.recordings_dir):
            d.mkdir(parents=True, exist_ok=True)
        sounds = self.data / "sounds"
        sounds.mkdir(parents=True, exist_ok=True)
        pkg_data = self.pkg / "var" / "lib" / "asterisk"
        for name, target in (("documentation", pkg_data / "documentation"),):
            link = self.data / name
            if not link.exists():
                link.symlink_to(target)
        links = {sounds / "en": pkg_data / "sounds" / "en", sounds / "hl12319": self.prompts}
        (sounds / "zh").mkdir(exist_ok=True)
        links[sounds / "zh" / "digits"] = self.prompts / "digits"   # as docker/asterisk/entrypoint.sh
        for link, target in links.items():
            if not link.exists():
                link.symlink_to(target)

    def render(self, rules_file: Path) -> None:
        """Dialplan and prompts from ``rules_file``, as docker/configure.py does (tier: short prompts)."""
        flow = flow_from_rules(load_rules(rules_file))
        render_dialplan(flow, out_dir=self.conf / "hl12319", agi_host="127.0.0.1", agi_port=self.ports.agi,
                        recordings_dir=str(self.recordings_dir), messages_dir=str(self.messages_dir))
        build_prompts(flow, self.prompts, generator=short_prompt)

    # -- process ---------------------------------------------------------------------------
    def start(self) -> None:
        out = subprocess.run([str(self.pkg / "bin" / "run-asterisk"), str(self.conf), str(self.work)],
                             env=self.env(), capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"run-asterisk failed: {out.stdout}{out.stderr}")
        self.pid = int(out.stdout.strip().splitlines()[-1])

    def cli(self, *commands: str) -> str:
        out = subprocess.run([str(self.pkg / "bin" / "asterisk-cli"), str(self.work), *commands],
                             capture_output=True, text=True, timeout=60)
        return out.stdout + out.stderr

    def reload_dialplan(self, rules_file: Path) -> None:
        """What an operator does after changing the rules: render, then ``dialplan reload``."""
        self.render(rules_file)
        subprocess.run([str(self.pkg / "bin" / "run-asterisk"), "--render", str(self.conf), str(self.work)],
                       env=self.env(), check=True, capture_output=True)
        self.cli("dialplan reload", "module reload app_queue.so")

    def stop(self) -> None:
        if self.pid is not None:
            subprocess.run([str(self.pkg / "bin" / "stop-asterisk"), str(self.work), "10"], capture_output=True)
            self.pid = None

    # -- Asterisk's own records -------------------------------------------------------------
    def cdr(self) -> list[dict[str, str]]:
        path = self.work / "log" / "cdr-custom" / "hotline.csv"
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as fh:
            return [dict(zip(CDR_FIELDS, row)) for row in csv.reader(fh)]

    def queue_log(self) -> list[list[str]]:
        path = self.work / "log" / "queue_log"
        if not path.exists():
            return []
        return [line.split("|") for line in path.read_text(encoding="utf-8").splitlines() if line]


class Sipp:
    """sipp processes: the district lines, the agent phones and citizens' calls."""

    def __init__(self, work: Path, asterisk_port: int):
        self.work, self.asterisk_port = work, asterisk_port
        self.work.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self._n = 0

    def _file(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text, encoding="utf-8")
        return path

    def _spawn(self, name: str, args: list[str], *, wait: bool = False, timeout: float = 30) -> subprocess.Popen:
        log = open(self.work / f"{name}.out", "w")
        proc = subprocess.Popen(["sipp", *args, "-nostdin", "-trace_err", "-error_file", str(self.work / f"{name}.err")],
                                stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
        log.close()
        if wait:
            proc.wait(timeout)
        else:
            self.procs.append(proc)
        return proc

    def serve_lines(self, port: int) -> None:
        scen = self._file("lines.xml", line_scenario())
        self._spawn("lines", ["-sf", str(scen), "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_udp_block(4)),
                              "-t", "u1"])

    def serve_agent(self, seat: str, port: int) -> None:
        scen = self._file(f"agent-{seat}.xml", agent_scenario(f"agent-{seat}"))
        self._spawn(f"agent-{seat}", ["-sf", str(scen), "-i", AGENT_HOST, "-p", str(port),
                                       "-mp", str(free_udp_block(4, AGENT_HOST)), "-t", "u1"])

    def register(self, seat: str, port: int) -> int:
        """Register the seat from ``port``, the port its phone then answers on (Asterisk's
        rewrite_contact keeps the source address of the REGISTER, as behind NAT)."""
        scen = self._file(f"register-{seat}.xml",
                          register_scenario(f"agent-{seat}", SEAT_PASSWORD.format(seat), AGENT_HOST, port))
        proc = self._spawn(f"register-{seat}", ["-sf", str(scen), "-i", AGENT_HOST, "-p", str(port), "-m", "1",
                                                 f"127.0.0.1:{self.asterisk_port}"], wait=True)
        return proc.returncode

    def call(self, caller: str, steps: list[tuple]) -> "CitizenCall":
        self._n += 1
        name = f"call-{self._n:02d}-{caller}"
        scen = self._file(f"{name}.xml", citizen_scenario(caller, steps, self.work))
        proc = self._spawn(name, ["-sf", str(scen), "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
                                  "-mp", str(free_udp_block(4)), "-m", "1", "-timeout", "240s",
                                  f"127.0.0.1:{self.asterisk_port}"])
        return CitizenCall(caller, steps, proc, self.work / f"{name}.out")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class CitizenCall:
    caller: str
    steps: list[tuple]
    proc: subprocess.Popen
    log: Path

    def wait(self, timeout: float = 240) -> int:
        return self.proc.wait(timeout)


class HotlineServe:
    """``hotline serve`` in a subprocess, attached to the Asterisk over AMI and FastAGI."""

    def __init__(self, var: Path, ports: Ports, database_url: str = ""):
        self.var, self.ports, self.database_url = var, ports, database_url
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{ports.web}"
        self.starts = 0

    def env(self, rules_file: Path, agi_port: int | None = None) -> dict[str, str]:
        p = self.ports
        env = dict(os.environ, HOTLINE_VAR_DIR=str(self.var), HOTLINE_RULES_FILE=str(rules_file),
                   HOTLINE_AMI_HOST="127.0.0.1", HOTLINE_AMI_PORT=str(p.ami), HOTLINE_AMI_USERNAME="hotline",
                   HOTLINE_AMI_SECRET=AMI_SECRET, HOTLINE_AGI_HOST="127.0.0.1",
                   HOTLINE_AGI_PORT=str(agi_port or p.agi), HOTLINE_WEB_HOST="127.0.0.1",
                   HOTLINE_WEB_PORT=str(p.web), HOTLINE_SESSION_SECRET="t" * 48, HOTLINE_SAMPLE_DATA="true",
                   HOTLINE_SCHEDULER_INTERVAL="3600", HOTLINE_TIMEZONE="Asia/Shanghai")
        env.pop("HOTLINE_DATABASE_URL", None)
        if self.database_url:
            env["HOTLINE_DATABASE_URL"] = self.database_url
        return env

    def create_users(self, rules_file: Path) -> None:
        env = self.env(rules_file)
        for username, role in (("agent1", "agent"), ("sup1", "supervisor")):
            subprocess.run([sys.executable, "-m", "hotline.cli", "users", "add", username, "--role", role,
                            "--name", "王芳" if role == "agent" else "刘值班"],       # the password is prompted
                           cwd=ROOT, env=env, check=True, capture_output=True, input=f"{PASSWORD}\n{PASSWORD}\n", text=True)

    def start(self, rules_file: Path, *, agi_port: int | None = None, wait_telephony: bool = True) -> None:
        """Start and wait until the web answers; with ``wait_telephony`` until ``/readyz`` is 200."""
        self.starts += 1
        log = open(self.var / f"serve-{self.starts}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "serve"], cwd=ROOT,
                                     env=self.env(rules_file, agi_port), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait(lambda r: r.status_code in (200, 503), "answering")
        if wait_telephony:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        self._wait(lambda r: r.status_code == 200 and r.json()["checks"]["telephony"] == "ok", "ready", timeout)

    def _wait(self, ok, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hotline serve exited ({self.proc.returncode}): {self.log_text()[-3000:]}")
            try:
                if ok(httpx.get(self.base + "/readyz", timeout=2)):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"hotline serve not {what} in {timeout:.0f} s: {self.log_text()[-3000:]}")
            time.sleep(0.2)

    def log_text(self) -> str:
        return (self.var / f"serve-{self.starts}.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @contextmanager
    def client(self, username: str = "agent1") -> Iterator[httpx.Client]:
        """An API client logged in as ``username`` (CSRF header set)."""
        with httpx.Client(base_url=self.base, timeout=20) as c:
            r = c.post("/api/session", json={"username": username, "password": PASSWORD})
            r.raise_for_status()
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            yield c

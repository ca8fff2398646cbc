"""Background transcription of recordings into their ticket (decision 0013).

:class:`TranscriptionWorker` takes the tickets marked ``pending`` (:mod:`hotline.cases.transcripts`),
oldest first, reads the ticket's recording, has the shared :class:`ivr.speech.SpeechRecognizer`
transcribe it in its bounded pool (the free text, and the suggestion keywords spotted with a grammar
pass) and stores the transcript with the suggested category and district. It runs every ``interval``
seconds and at once when a call ends with a message. Pending tickets survive a restart: the column
is the queue.

Outcomes per ticket: ``done`` (transcript, perhaps empty for a silent message, and a suggestion when
keywords were found); ``failed`` with the reason in the ticket log (no recording, the file is gone,
not audio in a format the recogniser reads); still ``pending`` when every speech worker is busy or
speech is off (no model configured: the tickets wait for one).

Recording paths are Asterisk's; ``path_map`` (``/var/spool/asterisk=/srv/pbx-spool``) rewrites a
prefix to where this process sees the same files. ``fetch`` reads recordings given as URLs (Twilio's
``RecordingUrl``, :class:`hotline.calls.twilio_recordings.TwilioRecordings`); a fetch that may pass
later (:class:`RecordingNotReady`: the carrier down, bad credentials) leaves the ticket pending.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy.orm import Session, sessionmaker

from hotline.cases.transcripts import DONE, FAILED, keyword_table, pending_tickets, store_transcript, suggest
from hotline.database import transaction
from ivr.api import AudioFormatError, SpeechBusy, read_audio
from ivr.bus import EventBus, Subscription
from ivr.events import CallEnded, Disposition

log = logging.getLogger(__name__)

__all__ = ["RecordingNotReady", "RecordingTooLarge", "TranscriptionWorker", "parse_path_map"]

Fetch = Callable[[str], Awaitable[bytes]]


class RecordingNotReady(Exception):
    """The recording could not be read now but may be later: the ticket stays pending."""


class RecordingTooLarge(OSError):
    """The recording is over the size the worker reads (the transcript fails with the reason)."""


def parse_path_map(text: str) -> list[tuple[str, str]]:
    """``"/var/spool/asterisk=/srv/spool;/a=/b"`` → ``[("/var/spool/asterisk", "/srv/spool"), ("/a", "/b")]``."""
    out = []
    for part in (text or "").split(";"):
        if part.strip():
            src, sep, dst = part.partition("=")
            if not sep or not src.strip() or not dst.strip():
                raise ValueError(f"path map entry {part!r}: expected <PBX path>=<local path>")
            out.append((src.strip().rstrip("/"), dst.strip().rstrip("/")))
    return out


class TranscriptionWorker:
    def __init__(self, sessions: sessionmaker[Session], recogniser: Callable[[], Any], *, rules: Callable[[], Any],
                 flow: Callable[[], Any] = lambda: None, bus: EventBus | None = None, interval: float = 30.0,
                 path_map: list[tuple[str, str]] | None = None, fetch: Fetch | None = None,
                 clock: Callable[[], datetime] | None = None, batch: int = 8):
        self.sessions, self.recogniser, self.rules, self.flow = sessions, recogniser, rules, flow
        self.interval, self.path_map, self.fetch, self.batch = interval, list(path_map or []), fetch, batch
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.done = self.failed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sub: Subscription | None = bus.subscribe(self._on_call, CallEnded) if bus is not None else None
        self._bus = bus

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="transcription")

    async def stop(self) -> None:
        if self._sub is not None and self._bus is not None:
            self._bus.unsubscribe(self._sub)
            self._sub = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        close = getattr(self.fetch, "aclose", None)
        if close is not None:
            await close()

    def _on_call(self, event: CallEnded) -> None:
        if event.snapshot.disposition is Disposition.VOICEMAIL:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("transcription: a round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    # -- work --------------------------------------------------------------------------------
    def local_path(self, path: str) -> Path:
        for src, dst in self.path_map:
            if path == src or path.startswith(src + "/"):
                return Path(dst + path[len(src):])
        return Path(path)

    async def _audio(self, recording: str):
        if recording.startswith(("http://", "https://")):
            if self.fetch is None:
                raise FileNotFoundError(f"{recording}: no way to fetch recordings by URL")
            return read_audio(await self.fetch(recording))
        return await asyncio.to_thread(read_audio, self.local_path(recording))

    async def run_once(self) -> int:
        """Transcribe the pending tickets of one batch; returns how many were finished."""
        rec = self.recogniser()
        if rec is None:
            return 0

        def load():
            with self.sessions() as s:
                return pending_tickets(s, self.batch), keyword_table(s, self.rules(), self.flow())

        pending, table = await asyncio.to_thread(load)
        finished, not_ready = 0, []
        for ticket_id, recordings in pending:
            try:
                finished += await self._one(rec, ticket_id, recordings, table)
            except SpeechBusy:
                log.info("transcription: speech workers busy; ticket %s waits for the next round", ticket_id)
                break
            except RecordingNotReady as exc:
                not_ready.append((ticket_id, exc))
        if not_ready:
            log.warning("transcription: %d recording(s) not readable now, tried again next round (ticket %s: %s)",
                        len(not_ready), not_ready[0][0], not_ready[0][1])
        return finished

    async def _one(self, rec, ticket_id: int, recordings: list[str], table) -> int:
        candidates = [r for r in recordings if r]
        if not candidates:
            return await self._store(ticket_id, FAILED, note="留言录音未能转写：没有录音文件")
        recording = candidates[-1]  # the message (a queue recording, if any, comes first)
        try:
            audio = await self._audio(recording)
        except FileNotFoundError:
            return await self._store(ticket_id, FAILED, note="留言录音未能转写：录音文件不存在",
                                     data={"recording": recording})
        except RecordingTooLarge as exc:
            return await self._store(ticket_id, FAILED, note="留言录音未能转写：录音文件过大",
                                     data={"recording": recording, "error": str(exc)})
        except (AudioFormatError, OSError) as exc:
            return await self._store(ticket_id, FAILED, note="留言录音未能转写：录音格式无法识别",
                                     data={"recording": recording, "error": str(exc)})
        transcript = await rec.transcribe(audio, spot=[k.word for k in table])
        suggestion = suggest(transcript.text, transcript.spotted, table)
        return await self._store(ticket_id, DONE, text=transcript.text, suggestion=suggestion,
                                 data={"recording": recording, "seconds": round(transcript.seconds, 1),
                                       "spotted": [list(s) for s in transcript.spotted]})

    async def _store(self, ticket_id: int, status: str, **kwargs) -> int:
        at = self.clock()

        def write() -> bool:
            with transaction(self.sessions) as s:
                return store_transcript(s, ticket_id, status=status, at=at, **kwargs) is not None

        stored = await asyncio.to_thread(write)
        if stored:
            if status == DONE:
                self.done += 1
            else:
                self.failed += 1
        return int(stored)

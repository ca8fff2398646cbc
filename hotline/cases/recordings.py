"""The call recording of a phone ticket: the linked call's ``recordings`` (MixMonitor of the agent
call, or the caller's message), played in the console only when the file exists under the
configured recordings directory (``HOTLINE_RECORDINGS_DIR``, default ``/var/spool/asterisk``,
mounted read-only into the app). Asterisk names a MixMonitor file before anyone answers, so an
abandoned call points at a file that was never written (docs/ivr.md): it is listed, not played.
The built-in PBX simulator records nothing at all.

Recordings are for the hotline centre — agents, dispatchers, supervisors, admins — who talk to
citizens or complete their messages; district and department officers work from the ticket's
text (decision 0009).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath

from sqlalchemy.orm import Session

from hotline.calls.models import Call
from hotline.cases.errors import NotFound
from hotline.cases.models import Ticket
from hotline.users.roles import Role

__all__ = ["RECORDING_ROLES", "Recording", "ticket_recordings", "recording_file"]

RECORDING_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
_AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac",
                ".gsm": "audio/x-gsm"}


@dataclass(frozen=True)
class Recording:
    index: int
    name: str             # the file name, for display
    stored_path: str      # as the call record names it
    file: Path | None     # the file to play, when it exists under the recordings directory
    why: str              # why it cannot be played ("" when it can)

    @property
    def playable(self) -> bool:
        return self.file is not None

    @property
    def content_type(self) -> str:
        return _AUDIO_TYPES.get(PurePath(self.stored_path).suffix.lower(), "application/octet-stream")


def _resolve(stored: str, root: Path) -> tuple[Path | None, str]:
    try:
        base = root.resolve(strict=True)
    except (FileNotFoundError, OSError):
        return None, "录音目录不存在"
    candidate = Path(stored)
    if not candidate.is_absolute():
        candidate = base / candidate
    try:
        path = candidate.resolve(strict=True)
    except (FileNotFoundError, OSError, RuntimeError):
        return None, "录音文件不存在（未接通的通话不会生成录音）"
    if not path.is_relative_to(base):
        return None, "录音文件不在录音目录中"
    if not path.is_file():
        return None, "录音文件不存在"
    if path.suffix.lower() not in _AUDIO_TYPES:
        return None, "不支持的录音格式"
    return path, ""


def ticket_recordings(session: Session, ticket: Ticket, root: Path) -> list[Recording]:
    """The recordings of the ticket's call, each with the file to play or why it cannot be."""
    if ticket.call_id is None:
        return []
    call = session.get(Call, ticket.call_id)
    if call is None:
        return []
    out = []
    for index, stored in enumerate(call.recordings or []):
        stored = str(stored)
        file, why = _resolve(stored, root)
        out.append(Recording(index, PurePath(stored).name, stored, file, why))
    return out


def recording_file(session: Session, ticket: Ticket, role: Role, index: int, root: Path) -> Recording:
    """A playable recording of a ticket the caller already may see; ``NotFound`` otherwise."""
    if role not in RECORDING_ROLES:
        raise NotFound(f"{ticket.number}/录音{index}")
    for recording in ticket_recordings(session, ticket, root):
        if recording.index == index and recording.playable:
            return recording
    raise NotFound(f"{ticket.number}/录音{index}")

"""Transcripts of a ticket's recording (decision 0013): what the caller said, as text, and a
suggestion of the category and district guessed from keywords.

A voicemail ticket with a recording is marked ``pending`` when it is created
(:func:`hotline.cases.flows.ticket_from_call`); :class:`hotline.calls.transcription.TranscriptionWorker`
transcribes it in the background and stores the result here. The suggestion is shown to the agent
and is never applied by itself: the agent confirms it through the ordinary ticket edit.

The transcript is machine-written supplementary data, not a change an agent made: it is written with
a Core ``UPDATE`` that leaves the ticket's ``version`` alone, so an agent already working on the ticket
does not get a conflict for it. The ticket log gets a ``transcribed`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hotline.calls.models import Call
from hotline.categories.models import Category
from hotline.cases.models import Ticket
from hotline.cases.timeline import LogEvent, append_event

__all__ = ["PENDING", "DONE", "FAILED", "Keyword", "keyword_table", "mark_pending", "pending_tickets",
           "store_transcript", "suggest"]

PENDING, DONE, FAILED = "pending", "done", "failed"
TRANSCRIBER = "语音转写"


@dataclass(frozen=True)
class Keyword:
    word: str
    kind: str        # "district" or "category"
    code: str
    name: str


def keyword_table(session: Session, rules: Any, flow: Any = None) -> list[Keyword]:
    """The words a suggestion looks for: district names (红山区 and 红山), the spoken keywords of the
    IVR's district options, and the names of the active categories (two characters or more)."""
    out: list[Keyword] = []
    names = {d.code: d.name for d in rules.districts}
    for code, name in names.items():
        out.append(Keyword(name, "district", code, name))
        short = name[:-1] if name.endswith(("区", "旗", "县")) and len(name) > 2 else ""
        if short:
            out.append(Keyword(short, "district", code, name))
    for menu in (flow.menus if flow is not None else ()):
        for option in menu.options:
            if option.district and option.district in names:
                out += [Keyword(w, "district", option.district, names[option.district]) for w in option.keywords]
    for code, name in session.execute(select(Category.code, Category.name).where(Category.active.is_(True))):
        if len(name) >= 2:
            out.append(Keyword(name, "category", code, name))
    seen: set[tuple[str, str]] = set()
    unique = []
    for k in out:
        if (k.word, k.kind) not in seen:
            seen.add((k.word, k.kind))
            unique.append(k)
    return unique


def suggest(text: str, spotted: Iterable[tuple[str, float]], table: Iterable[Keyword]) -> dict[str, Any] | None:
    """The district and category the keywords found point to, or ``None`` when none was found.

    A keyword counts when the free text contains it or the recogniser spotted it. Per kind, the
    code named by the most (then the longest) keywords wins; the keywords are kept as the reason.
    """
    flat = text.replace(" ", "")
    heard = {w for w, _ in spotted}
    found = [k for k in table if k.word.replace(" ", "") in flat or k.word in heard]
    if not found:
        return None
    out: dict[str, Any] = {"keywords": sorted({k.word for k in found})}
    for kind in ("district", "category"):
        votes: dict[str, list[Keyword]] = {}
        for k in found:
            if k.kind == kind:
                votes.setdefault(k.code, []).append(k)
        if votes:
            code, hits = max(votes.items(), key=lambda kv: (len(kv[1]), max(len(k.word) for k in kv[1])))
            out[f"{kind}_code"], out[f"{kind}_name"] = code, hits[0].name
            out[f"{kind}_keywords"] = sorted({k.word for k in hits})
    return out


def mark_pending(session: Session, ticket: Ticket) -> None:
    """Ask for a transcript of ``ticket``'s recording (the worker picks it up)."""
    session.execute(update(Ticket).where(Ticket.id == ticket.id).values(transcript_status=PENDING)
                    .execution_options(synchronize_session=False))
    set_committed_value(ticket, "transcript_status", PENDING)


def pending_tickets(session: Session, limit: int = 20) -> list[tuple[int, list[str]]]:
    """(ticket id, recordings) of the tickets waiting for a transcript, oldest first."""
    rows = session.execute(
        select(Ticket.id, Call.recordings).outerjoin(Call, Call.id == Ticket.call_id)
        .where(Ticket.transcript_status == PENDING).order_by(Ticket.id).limit(limit))
    return [(tid, [str(r) for r in (recs or [])]) for tid, recs in rows]


def store_transcript(session: Session, ticket_id: int, *, status: str, text: str = "",
                     suggestion: dict[str, Any] | None = None, at: datetime, note: str = "",
                     data: dict[str, Any] | None = None) -> Ticket | None:
    """Store the transcript (``done``) or why there is none (``failed``, ``note``) and log it.
    A ticket no longer pending (transcribed meanwhile) is left alone: returns ``None``."""
    if status not in (DONE, FAILED):
        raise ValueError(f"status must be {DONE!r} or {FAILED!r}")
    done = session.execute(
        update(Ticket).where(Ticket.id == ticket_id, Ticket.transcript_status == PENDING)
        .values(transcript_status=status, transcript=text, transcript_suggestion=suggestion)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        return None
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    if note == "":
        if status == FAILED:
            note = "留言录音未能转写"
        elif suggestion:
            parts = [f"{label}：{suggestion[key]}" for key, label in (("category_name", "建议分类"),
                                                                      ("district_name", "建议区县"))
                     if suggestion.get(key)]
            note = "留言已转写" + ("；" + "，".join(parts) + "（待坐席确认）" if parts else "")
        else:
            note = "留言已转写"
    append_event(session, ticket, at=at, actor=TRANSCRIBER, actor_id=None, action=LogEvent.TRANSCRIBED,
                 note=note, data={"status": status, **(data or {}), "suggestion": suggestion})
    return ticket

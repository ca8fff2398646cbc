"""Photos of a ticket (处置前后照片): checked by their bytes, stored under random names, served only
to users who may see the ticket.

* **What is accepted**: JPEG, PNG and WebP, recognised by their first bytes (the signature and
  the first chunk or marker), never by the file name or the browser's content type; at most
  :data:`MAX_PHOTO_BYTES` each and :data:`MAX_PHOTOS` per upload. Anything else is refused with
  a Chinese message that names the file.
* **Where**: ``<attachments dir>/<2 hex>/<32 hex>.<ext>`` (``HOTLINE_ATTACHMENTS_DIR``, default
  ``<var_dir>/attachments``). The name is random; the user's file name is kept only as text to
  show (a hostile name such as ``../../etc/passwd`` never becomes a path). Files are written
  before the transaction commits and removed again when it fails (:class:`PhotoBatch`).
* **Who adds photos**: the responsible unit's officers, with their 反馈 (处置后) or on their own
  while the ticket is in progress (处置前 / 处置后, a ``photos`` event in the log). The same
  picture twice on one ticket is stored once.
* **Who sees them**: whoever may see the ticket (:func:`hotline.cases.service.get_ticket`);
  anyone else gets ``NotFound``, as for the ticket itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.errors import CaseError, NotFound
from hotline.cases.models import Ticket, TicketAttachment
from hotline.cases.service import get_ticket, perform, ticket_view
from hotline.cases.timeline import LogEvent, append_event, next_seq
from hotline.cases.workflow import Action, Actor, TicketState, in_scope

__all__ = [
    "MAX_PHOTO_BYTES", "MAX_PHOTOS", "LABELS", "PHOTO_STATES", "AttachmentError", "PhotosNotAllowed", "Photo",
    "PhotoStore",
    "PhotoBatch", "sniff_image", "checked_photos", "may_add_photos", "add_photos", "feedback_with_photos",
    "ticket_attachments", "photo_file",
]

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 6
LABELS = {"before": "处置前", "after": "处置后"}
#: While the responsible unit works on a ticket it may add photos on their own.
PHOTO_STATES = frozenset({TicketState.IN_PROGRESS, TicketState.EXTENSION_REQUESTED})
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}\.(jpg|png|webp)")


class AttachmentError(CaseError, ValueError):
    """A refused upload; ``str()`` is a Chinese message for the photos field."""

    def __init__(self, message: str, field_name: str = "photos"):
        self.field = field_name
        super().__init__(message)


class PhotosNotAllowed(CaseError):
    """The user may see the ticket but not add photos to it now."""

    def __init__(self, number: str):
        super().__init__(f"工单{number}当前不能上传照片：只有责任单位在处置中可以上传"
                         f"(only the responsible unit may add photos while the ticket is in progress)")


def sniff_image(data: bytes) -> str | None:
    """The image type of ``data`` from its bytes (``image/jpeg``, ``image/png``, ``image/webp``)."""
    if data[:3] == b"\xff\xd8\xff" and len(data) > 4:
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return "image/webp"
    return None


def _shown_name(name: str) -> str:
    """The user's file name as text to show: its last path part, printable, at most 120 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    text = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return text[:120] or "照片"


@dataclass(frozen=True)
class Photo:
    name: str            # shown only
    data: bytes
    content_type: str
    sha256: str

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self.content_type]


def checked_photos(files: Iterable[tuple[str, bytes]]) -> list[Photo]:
    """The uploads as photos, or :class:`AttachmentError` naming the first bad file. Empty parts
    (a form sent without choosing a file) are left out."""
    chosen = [(name, data) for name, data in files if data or (name or "").strip()]
    if len(chosen) > MAX_PHOTOS:
        raise AttachmentError(f"一次最多上传 {MAX_PHOTOS} 张照片，本次选择了 {len(chosen)} 张")
    photos = []
    for name, data in chosen:
        shown = _shown_name(name)
        if not data:
            raise AttachmentError(f"照片“{shown}”是空文件")
        if len(data) > MAX_PHOTO_BYTES:
            raise AttachmentError(f"照片“{shown}”超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB，请压缩后再上传")
        content_type = sniff_image(data)
        if content_type is None:
            raise AttachmentError(f"文件“{shown}”不是 JPEG、PNG 或 WebP 图片")
        photos.append(Photo(shown, data, content_type, hashlib.sha256(data).hexdigest()))
    return photos


class PhotoStore:
    """The attachments directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, storage_key: str) -> Path:
        """The file of a stored key; a key that is not one of ours is refused."""
        if not _KEY.fullmatch(storage_key or ""):
            raise NotFound(storage_key)
        return self.root / storage_key

    def batch(self) -> "PhotoBatch":
        return PhotoBatch(self)


@dataclass
class PhotoBatch:
    """Files written for one transaction; ``discard()`` removes them when it fails::

        batch = store.batch()
        try:
            with sessions() as s, s.begin():
                add_photos(s, batch, …)
        except BaseException:
            batch.discard()
            raise
    """

    store: PhotoStore
    written: list[Path] = field(default_factory=list)

    def write(self, photo: Photo) -> str:
        token = secrets.token_hex(16)
        key = f"{token[:2]}/{token}.{photo.extension}"
        path = self.store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self.written.append(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(photo.data)
        return key

    def discard(self) -> None:
        for path in self.written:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self.written.clear()


def _store(session: Session, batch: PhotoBatch, ticket: Ticket, photos: list[Photo], *, actor: Actor,
           actor_name: str, at: datetime, label: str, event_seq: int) -> list[TicketAttachment]:
    if label not in LABELS:
        raise AttachmentError(f"照片类别无效：{label!r}（应为处置前或处置后）", "label")
    known = set(session.execute(select(TicketAttachment.sha256)
                                .where(TicketAttachment.ticket_id == ticket.id)).scalars())
    rows = []
    for photo in photos:
        if photo.sha256 in known:
            continue
        known.add(photo.sha256)
        rows.append(TicketAttachment(
            ticket_id=ticket.id, kind="photo", label=label, content_type=photo.content_type,
            size=len(photo.data), sha256=photo.sha256, storage_key=batch.write(photo),
            original_name=photo.name, uploaded_at=at, uploaded_by=actor.user_id,
            uploader=(actor_name or "")[:80], event_seq=event_seq))
    session.add_all(rows)
    session.flush()
    return rows


def may_add_photos(actor: Actor, ticket: Ticket) -> bool:
    """The responsible unit's officers, while the ticket is in progress."""
    view = ticket_view(ticket)
    return actor.role.scoped and view.state in PHOTO_STATES and in_scope(actor, view)


def add_photos(session: Session, batch: PhotoBatch, actor: Actor, number: str, photos: list[Photo], *,
               at: datetime, label: str, actor_name: str = "") -> list[TicketAttachment]:
    """Add photos to a ticket in progress (a ``photos`` event in the log); returns the new rows.
    ``NotFound`` outside the actor's scope, :class:`PhotosNotAllowed` when it is not theirs to do
    now, :class:`AttachmentError` when nothing new was chosen."""
    ticket = get_ticket(session, actor, number)
    if session.get_bind().dialect.name == "postgresql":       # the order perform() uses: the ticket first
        session.execute(select(Ticket.id).where(Ticket.id == ticket.id).with_for_update())
    if not may_add_photos(actor, ticket):
        raise PhotosNotAllowed(ticket.number)
    if not photos:
        raise AttachmentError("请选择要上传的照片")
    # the rows first, under the number the event will get (events are append-only: the event is
    # written once, complete, with the rows' ids)
    seq = next_seq(session, ticket.id)
    rows = _store(session, batch, ticket, photos, actor=actor, actor_name=actor_name, at=at, label=label,
                  event_seq=seq)
    if not rows:
        raise AttachmentError("所选照片已上传过")     # the caller's transaction rolls back
    event = append_event(session, ticket, action=LogEvent.PHOTOS, at=at, actor_id=actor.user_id,
                         actor=(actor_name or actor.role.value)[:80], note=f"上传{LABELS[label]}照片 {len(rows)} 张",
                         data={"label": label, "attachments": [r.id for r in rows],
                               "names": [r.original_name for r in rows]})
    if event.seq != seq:                               # renumbered after a concurrent event took ``seq``
        for row in rows:
            row.event_seq = event.seq
        session.flush()
    return rows


def feedback_with_photos(session: Session, batch: PhotoBatch, actor: Actor, number: str,
                         payload: Mapping[str, Any], photos: list[Photo], *, at: datetime,
                         expected_version: int | None, stage_policy, calendar=None,
                         actor_name: str | None = None) -> Ticket:
    """反馈 with 处置后 photos in one transaction (the photos belong to the feedback event)."""
    ticket = get_ticket(session, actor, number)
    ticket = perform(session, ticket.id, Action.FEEDBACK, actor, payload, at=at, expected_version=expected_version,
                     stage_policy=stage_policy, calendar=calendar, actor_name=actor_name)
    if photos:
        _store(session, batch, ticket, photos, actor=actor, actor_name=actor_name or "", at=at, label="after",
               event_seq=next_seq(session, ticket.id) - 1)          # the feedback event just appended
    return ticket


def ticket_attachments(session: Session, ticket: Ticket) -> list[TicketAttachment]:
    return list(session.execute(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
                                .order_by(TicketAttachment.id)).scalars())


def photo_file(session: Session, store: PhotoStore, actor: Actor, number: str,
               attachment_id: int) -> tuple[TicketAttachment, Path]:
    """A photo of a ticket the actor may see, with its file; ``NotFound`` otherwise (also when the
    photo belongs to another ticket or its file is gone)."""
    ticket = get_ticket(session, actor, number)
    row = session.get(TicketAttachment, attachment_id)
    if row is None or row.ticket_id != ticket.id:
        raise NotFound(attachment_id)
    path = store.path(row.storage_key)
    if not path.is_file():
        raise NotFound(attachment_id)
    return row, path

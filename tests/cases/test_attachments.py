"""Photo checks of hotline.cases.attachments that need no server: types from the bytes, limits,
shown names, storage keys, and files removed when a transaction fails."""

from __future__ import annotations

import pytest

from hotline.cases.attachments import (
    MAX_PHOTO_BYTES, AttachmentError, Photo, PhotoStore, checked_photos, sniff_image,
)
from hotline.cases.errors import NotFound

from tests.api.case_pages_support import JPEG, WEBP, png


@pytest.mark.parametrize("data, expected", [
    (png(), "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, None),            # a PNG signature without its IHDR chunk
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),                 # RIFF, but audio
    (b"GIF89a\x01\x00\x01\x00", None), (b"%PDF-1.7", None), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    (b"", None), (b"\xff\xd8\xff", None),
])
def test_images_are_recognised_by_their_bytes(data, expected):
    assert sniff_image(data) == expected


def test_checked_photos_names_the_bad_file_and_skips_empty_parts():
    photos = checked_photos([("", b""), ("C:\\Users\\王\\现场\x07.png", png()), ("a/b/../c.jpg", JPEG)])
    assert [(p.name, p.content_type, p.extension) for p in photos] == [
        ("现场.png", "image/png", "png"), ("c.jpg", "image/jpeg", "jpg")]
    with pytest.raises(AttachmentError, match="“evil.png”不是 JPEG"):
        checked_photos([("../../evil.png", b"#!/bin/sh\nrm -rf /")])
    with pytest.raises(AttachmentError, match="超过 5 MB"):
        checked_photos([("big.jpg", JPEG + b"\0" * MAX_PHOTO_BYTES)])
    with pytest.raises(AttachmentError, match="一次最多上传 6 张"):
        checked_photos([(f"{i}.png", png(rgb=(i, 0, 0))) for i in range(7)])
    with pytest.raises(AttachmentError, match="空文件"):
        checked_photos([("empty.png", b"")])


def test_store_keys_are_random_and_only_ours_resolve(tmp_path):
    store = PhotoStore(tmp_path)
    batch = store.batch()
    photo = Photo("x.png", png(), "image/png", "0" * 64)
    keys = {batch.write(photo) for _ in range(3)}
    assert len(keys) == 3 and all(store.path(k).read_bytes() == photo.data for k in keys)
    for hostile in ("../hotline.sqlite3", "/etc/passwd", "ab/../../x.png", "ab/" + "0" * 32 + ".html", ""):
        with pytest.raises(NotFound):
            store.path(hostile)
    batch.discard()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))

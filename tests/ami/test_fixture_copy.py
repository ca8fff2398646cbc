"""The repository's copy of the real Asterisk transcripts is the shared original, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from ami_fixtures import FIXTURES

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "asterisk-20"


def test_the_copy_holds_the_transcripts_with_their_crlf_bytes():
    ami = sorted(FIXTURES.glob("[0-9]*.txt"))
    assert len(ami) >= 15
    assert (FIXTURES / "00_login_ping_logoff.txt").read_bytes().startswith(b"Asterisk Call Manager/9.0.0\r\n")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ not beside the checkout")
def test_the_copy_matches_the_shared_folder():
    ours = {p.name: p.read_bytes() for p in FIXTURES.iterdir() if p.is_file()}
    theirs = {p.name: p.read_bytes() for p in SHARED.iterdir() if p.is_file()}
    assert ours == theirs

"""Prompt audio (ivr.prompts): espeak-ng Mandarin through sox to 8 kHz mono 16-bit WAV."""

from __future__ import annotations

import array
import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from ivr.dialplan import render_dialplan
from ivr.flow import flow_from_rules
from hotline.ivrconfig import build_prompts_from_rules_file
from ivr.prompts import MANIFEST, SOUNDS, PromptError, build_prompts

from .confparse import parse, referenced_prompts
from .conftest import RULES_FILE

_MISSING = [b for b in ("espeak-ng", "sox") if shutil.which(b) is None]
if _MISSING and os.environ.get("CI"):
    raise RuntimeError(f"CI must install {' and '.join(_MISSING)} (apt-get install -y espeak-ng sox)")
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"{', '.join(_MISSING)} not installed "
                                "(apt-get install -y espeak-ng sox); CI installs them")


def audio(path: Path) -> tuple[int, int, int, float, int]:
    """(rate, channels, sample width, seconds, peak) of a WAV file."""
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        samples = array.array("h", frames)
        peak = max((abs(s) for s in samples), default=0)
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate(), peak


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("prompts")
    paths = build_prompts_from_rules_file(RULES_FILE, out)
    return out, paths


def test_every_prompt_is_telephone_quality_speech(built, shipped_rules):
    out, paths = built
    flow = flow_from_rules(shipped_rules)
    assert sorted(p.name for p in paths) == sorted(f"{p.id}.wav" for p in flow.prompts())
    for path in paths:
        rate, channels, width, seconds, peak = audio(path)
        assert (rate, channels, width) == (8000, 1, 2), path.name
        assert seconds > 0.5, path.name
        assert peak > 3000, f"{path.name} is silent"
    # more text, longer speech: the menu prompt is much longer than the invalid-input prompt
    assert audio(out / "menu-main.wav")[3] > 2 * audio(out / "menu-main-invalid.wav")[3]


def test_sox_agrees_on_the_format(built):
    out, _ = built
    info = subprocess.run(["sox", "--i", str(out / "welcome.wav")], capture_output=True, text=True, check=True).stdout
    assert "Sample Rate    : 8000" in info and "Channels       : 1" in info
    assert "16-bit Signed Integer PCM" in info


def test_every_sound_the_dialplan_plays_exists(built, shipped_rules, tmp_path):
    out, _ = built
    ext = render_dialplan(flow_from_rules(shipped_rules), out_dir=tmp_path, prompts_dir="hl12319")[0]
    played = referenced_prompts(parse(ext.read_text(encoding="utf-8")), "hl12319")
    audio_files = {p.stem for p in out.glob("*.wav")}
    assert played and played - set(SOUNDS) == audio_files      # the prompts sit alone at the top
    for name in played:                                         # the tone before a message too
        assert (out / f"{name}.wav").is_file()


def test_the_sounds_asterisk_images_do_not_ship_are_generated(built):
    """Issue 14: a missing beep made Record() record nothing; SAY DIGITS fell back to English."""
    out, _ = built
    rate, channels, width, seconds, peak = audio(out / "tones" / "beep.wav")
    assert (rate, channels, width) == (8000, 1, 2) and 0.2 < seconds < 0.5 and peak > 3000
    for n in range(10):
        rate, channels, width, seconds, peak = audio(out / "digits" / f"{n}.wav")
        assert (rate, channels, width) == (8000, 1, 2) and 0.2 < seconds < 2 and peak > 3000, n
    assert audio(out / "digits" / "7.wav") != audio(out / "digits" / "1.wav")
    rate, channels, width, seconds, peak = audio(out / "moh" / "hold.wav")
    assert (rate, channels, width) == (8000, 1, 2) and seconds >= 5 and peak > 3000
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["sounds"]["digits/3"]["text"] == "三" and manifest["sounds"]["tones/beep"]["source"] == "sox"


def test_unchanged_prompts_are_kept_and_changed_text_keeps_the_name(make_rules, tmp_path):
    flow = flow_from_rules(make_rules())
    build_prompts(flow, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.wav")}
    before_audio = (tmp_path / "menu-districts.wav").read_bytes()

    def edit(d):
        d["ivr"]["menus"][1]["prompt"] = "红山区请按1。人工服务请按0。"

    build_prompts(flow_from_rules(make_rules(edit)), tmp_path)
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.wav")}
    assert set(after) == set(before)
    changed = {n for n in after if after[n] != before[n]}
    assert changed == {"menu-districts.wav"}
    assert (tmp_path / "menu-districts.wav").read_bytes() != before_audio
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["prompts"]["menu-districts"]["text"] == "红山区请按1。人工服务请按0。"


def test_prompts_that_leave_the_flow_are_removed(make_rules, tmp_path):
    build_prompts(flow_from_rules(make_rules()), tmp_path)
    (tmp_path / "operator-notes.txt").write_text("not ours", encoding="utf-8")
    assert (tmp_path / "menu-main.wav").exists()
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(menu_less=True)))
    build_prompts(flow, tmp_path)
    assert {p.stem for p in tmp_path.glob("*.wav")} == {p.id for p in flow.prompts()}
    assert not (tmp_path / "menu-main.wav").exists()
    assert (tmp_path / "operator-notes.txt").exists()


def test_a_recording_takes_precedence(make_rules, tmp_path):
    rec_dir = tmp_path / "recordings" / "hotline"
    rec_dir.mkdir(parents=True)
    # a 1.5 s 44.1 kHz stereo tone stands in for the operator's studio recording
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(rec_dir / "main.wav"),
                    "synth", "1.5", "sine", "440"], check=True)

    def edit(d):
        d["ivr"]["menus"][0]["recording"] = "hotline/main"

    flow = flow_from_rules(make_rules(edit))
    out = tmp_path / "out"
    build_prompts(flow, out, recordings_dir=tmp_path / "recordings")
    rate, channels, width, seconds, peak = audio(out / "menu-main.wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert abs(seconds - 1.5) < 0.05 and peak > 3000
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["prompts"]["menu-main"]["source"].endswith("hotline/main.wav")
    assert manifest["prompts"]["menu-districts"]["source"] == "espeak-ng:cmn"


def test_a_missing_recording_names_the_prompt(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(welcome_recording="hotline/nope")))
    with pytest.raises(PromptError, match=r"prompt 'welcome': recording 'hotline/nope' not found"):
        build_prompts(flow, tmp_path / "out", recordings_dir=tmp_path)


def test_gsm_copies(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(menu_less=True)))
    paths = build_prompts(flow, tmp_path, formats=("wav", "gsm"))
    gsm = [p for p in paths if p.suffix == ".gsm"]
    assert {p.stem for p in gsm} == {p.id for p in flow.prompts()}
    info = subprocess.run(["sox", "--i", str(gsm[0])], capture_output=True, text=True, check=True).stdout
    assert "GSM" in info and "Sample Rate    : 8000" in info


def test_bad_formats_are_refused(shipped_rules, tmp_path):
    with pytest.raises(ValueError):
        build_prompts(flow_from_rules(shipped_rules), tmp_path, formats=("mp3",))

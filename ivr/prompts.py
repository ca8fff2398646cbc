"""Telephone audio for the IVR prompts: espeak-ng (Mandarin) → sox → 8 kHz mono 16-bit WAV.

:func:`build_prompts` writes one ``<prompt id>.wav`` per prompt of the flow (and a
``.gsm`` too when asked), the files :mod:`ivr.dialplan` references as
``<prompts_dir>/<prompt id>``. A recorded file named in the rules (``recording:``)
takes precedence: it is converted with sox to the same format and name. Nothing is
downloaded; the two binaries come from the system (``apt-get install espeak-ng sox``).

``prompts.json`` in the output folder records, per prompt, the text, the source and a
fingerprint: unchanged prompts are not regenerated, and files of prompts that left
the flow are removed (only files this module wrote; nothing else in the folder is
touched), so the folder holds exactly the prompts the dialplan plays.

Besides the prompts, the sounds the dialplan needs that no Asterisk image is guaranteed to
ship (:data:`SOUNDS`, in sub-folders so the prompt files stay alone at the top):

* ``tones/beep`` — the tone before a message is recorded (the dialplan plays it and records
  with ``Record(…,q)``: a missing ``beep`` makes ``Record()`` record nothing);
* ``digits/0`` … ``digits/9`` — Chinese digits for ``SAY DIGITS`` (the ticket number read
  back); Asterisk finds them as ``sounds/zh/digits`` (docker/asterisk/entrypoint.sh links it),
  else it falls back to English or plays nothing;
* ``moh/hold`` — hold music of the queues (``musiconhold.conf`` class ``hl12319``): a soft
  two-tone chime; put licensed music files into the same folder to replace it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .flow import IvrFlow

__all__ = ["PromptError", "build_prompts", "MANIFEST", "RECORDING_EXTENSIONS", "SOUNDS", "DIGIT_WORDS"]

MANIFEST = "prompts.json"
RATE = 8000
FORMATS = ("wav", "gsm")
RECORDING_EXTENSIONS = ("wav", "gsm", "flac", "ogg", "mp3")
VOICE = "cmn"
# loudness: normalise to -3 dBFS so quiet synthesis and loud recordings sound alike
_SOX_OUT = ["-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
_TIMEOUT = 120

Generator = Callable[[str, Path], None]

#: Mandarin words of the digits 0–9 (``SAY DIGITS`` with the channel language ``zh``).
DIGIT_WORDS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
#: sox ``synth`` effects of the generated tones (8 kHz mono 16-bit like the prompts).
_TONES = {
    "tones/beep": ["synth", "0.3", "sine", "1000", "vol", "0.5"],
    # 8 s: a soft chime (two notes, each fading), a pause, the notes again
    "moh/hold": ["synth", "0.9", "sine", "523.25", "sine", "659.25", "fade", "q", "0.05", "0.9", "0.6",
                 "pad", "0", "1.1", "repeat", "3", "vol", "0.35"],
}
#: Every sound besides the prompts: file name (no extension) → TTS text, or None for a tone.
SOUNDS: dict[str, str | None] = {**{name: None for name in _TONES},
                                 **{f"digits/{n}": word for n, word in enumerate(DIGIT_WORDS)}}


class PromptError(RuntimeError):
    """A prompt could not be produced; the message names the prompt id."""


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise PromptError(f"{binary} is not installed (apt-get install -y espeak-ng sox)")
    return path


def _run(cmd: Sequence[str], *, what: str, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(list(cmd), input=stdin, capture_output=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PromptError(f"{what}: {Path(cmd[0]).name} did not finish within {_TIMEOUT} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise PromptError(f"{what}: {Path(cmd[0]).name} failed (exit {proc.returncode}): {err}")
    return proc.stdout


def espeak_ng(text: str, out: Path, *, voice: str = VOICE, speed: int = 150) -> None:
    """Speak ``text`` with espeak-ng and write telephone-quality WAV to ``out``."""
    espeak, sox = _need("espeak-ng"), _need("sox")
    # text goes in on stdin (never as an argument: a prompt may start with '-')
    raw = _run([espeak, "-v", voice, "-s", str(speed), "-b", "1", "--stdout"], stdin=text.encode("utf-8"),
               what=f"espeak-ng for {out.stem}")
    if len(raw) <= 44:
        raise PromptError(f"espeak-ng produced no audio for {out.stem}")
    _run([sox, "-V1", "-t", "wav", "-", *_SOX_OUT, str(out), "gain", "-n", "-3"], stdin=raw,
         what=f"sox for {out.stem}")


def convert_recording(src: Path, out: Path) -> None:
    """Convert an operator's recording to 8 kHz mono 16-bit WAV."""
    sox = _need("sox")
    _run([sox, "-V1", str(src), *_SOX_OUT, str(out), "gain", "-n", "-3"], what=f"sox for recording {src}")


def _to_gsm(wav: Path, out: Path) -> None:
    _run([_need("sox"), "-V1", str(wav), "-r", str(RATE), "-c", "1", str(out)], what=f"sox gsm for {wav.stem}")


def _find_recording(name: str, dirs: Iterable[Path]) -> Path | None:
    for d in dirs:
        for ext in RECORDING_EXTENSIONS:
            candidate = d / f"{name}.{ext}"
            if candidate.is_file():
                return candidate
    return None


def _fingerprint(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def _load_manifest(out_dir: Path) -> dict:
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and isinstance(data.get("prompts"), dict) else {"prompts": {}}
    except (OSError, ValueError):
        return {"prompts": {}}


def build_prompts(flow: IvrFlow, out_dir: str | os.PathLike[str], *, generator: str | Generator = "espeak-ng",
                  formats: Sequence[str] = ("wav",), recordings_dir: str | os.PathLike[str] | None = None,
                  recordings_dirs: Sequence[str | os.PathLike[str]] = (), voice: str = VOICE,
                  force: bool = False, speech: bool = False) -> list[Path]:
    """Write every prompt of ``flow`` as ``<id>.<format>`` into ``out_dir``; return the paths.
    ``speech``: also the prompts of speech navigation (``flow.prompts(speech=True)``).

    ``generator`` is ``"espeak-ng"`` or a callable ``(text, wav_path)`` that writes a WAV (sox
    then brings it to 8 kHz mono). Recordings named in the rules are looked up as
    ``<dir>/<recording>.<wav|gsm|flac|ogg|mp3>`` in ``recordings_dir`` (+ ``recordings_dirs``);
    a named recording that cannot be found is an error (it would silently be replaced by TTS).
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad or "wav" not in formats:
        raise ValueError(f"formats must include 'wav' and be among {FORMATS}, got {list(formats)}")
    if generator == "espeak-ng":
        gen_name = f"espeak-ng:{voice}"

        def gen(text: str, path: Path) -> None:
            espeak_ng(text, path, voice=voice)
    elif callable(generator):
        gen_name = getattr(generator, "__name__", "custom")

        def gen(text: str, path: Path) -> None:
            raw = path.with_name(path.stem + ".raw.wav")
            try:
                generator(text, raw)
                convert_recording(raw, path)
            finally:
                raw.unlink(missing_ok=True)
    else:
        raise ValueError(f"unknown generator {generator!r}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    search = [Path(d) for d in ([recordings_dir] if recordings_dir else []) + list(recordings_dirs)]
    prompts = flow.prompts(speech=speech)
    manifest = _load_manifest(out)
    old: dict = manifest["prompts"]
    new: dict[str, dict] = {}
    written: list[Path] = []
    missing: list[str] = []
    for prompt in prompts:
        source = None
        if prompt.recording:
            source = _find_recording(prompt.recording, search)
            if source is None:
                missing.append(f"prompt {prompt.id!r}: recording {prompt.recording!r} not found in "
                               + (", ".join(str(d) for d in search) or "(no recordings directory given)"))
                continue
            fp = _fingerprint("recording", source.read_bytes(), *formats)
        else:
            fp = _fingerprint("tts", gen_name, prompt.text, *formats)
        targets = [out / f"{prompt.file}.{fmt}" for fmt in formats]
        entry = {"text": prompt.text, "source": str(source) if source else gen_name, "fingerprint": fp,
                 "files": [t.name for t in targets]}
        new[prompt.id] = entry
        if not force and old.get(prompt.id, {}).get("fingerprint") == fp and all(t.exists() for t in targets):
            written += targets
            continue
        with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as tmp:
            wav = Path(tmp) / f"{prompt.file}.wav"
            if source is not None:
                convert_recording(source, wav)
            else:
                gen(prompt.text, wav)
            staged = [wav]
            if "gsm" in formats:
                gsm = Path(tmp) / f"{prompt.file}.gsm"
                _to_gsm(wav, gsm)
                staged.append(gsm)
            for src in staged:
                os.replace(src, out / src.name)
        written += targets
    if missing:
        raise PromptError("missing recordings:\n" + "\n".join(f"  - {m}" for m in missing))
    sounds = _build_sounds(out, gen, gen_name, manifest.get("sounds", {}), force)
    keep = {name for e in new.values() for name in e["files"]}
    for pid, entry in old.items():
        for name in entry.get("files", []):
            if name not in keep and "/" not in name and name != MANIFEST:
                (out / name).unlink(missing_ok=True)
    (out / MANIFEST).write_text(json.dumps({"prompts": new, "sounds": sounds}, ensure_ascii=False, indent=1,
                                           sort_keys=True) + "\n", encoding="utf-8")
    return written


def _tone(name: str, out: Path) -> None:
    _run([_need("sox"), "-V1", "-n", *_SOX_OUT, str(out), *_TONES[name]], what=f"sox for {name}")


def _build_sounds(out: Path, gen: Generator, gen_name: str, old: dict, force: bool) -> dict[str, dict]:
    """Write :data:`SOUNDS` (WAV) below ``out``; unchanged ones are kept. Returns their manifest."""
    entries: dict[str, dict] = {}
    for name, text in SOUNDS.items():
        fp = _fingerprint("tts", gen_name, text) if text else _fingerprint("tone", *_TONES[name])
        target = out / f"{name}.wav"
        entries[name] = {"text": text or "", "source": gen_name if text else "sox", "fingerprint": fp}
        if not force and old.get(name, {}).get("fingerprint") == fp and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as tmp:
            wav = Path(tmp) / target.name
            if text:
                gen(text, wav)
            else:
                _tone(name, wav)
            os.replace(wav, target)
    return entries

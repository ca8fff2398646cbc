"""Speech for the IVR with Vosk (optional extra ``speech``): menu navigation by spoken keywords
and free transcription of messages and call recordings.

* :class:`SpeechModel` — one loaded Vosk model (``load_model`` keeps one per directory: a model
  takes ~1.7 s and ~550 MB to load, so every recogniser of the process shares it). A missing or
  corrupt directory raises :class:`ModelUnavailable`; nothing is ever downloaded (Vosk's own
  ``Model(lang=…)`` would fetch from the internet: this module only ever passes a path).
* :class:`MenuGrammars` — per menu of the :class:`~ivr.flow.IvrFlow`, the grammar made of its
  options' ``keywords`` (district names, problem words, "人工", "查询" …), each keyword written in
  words of the model's vocabulary (Chinese keywords are split into vocabulary words, longest
  first). Keywords the model cannot spell are reported in ``missing``, never silently dropped.
  Grammars go to Vosk as ``json.dumps(words, ensure_ascii=False)`` (ASCII-escaped non-ASCII words
  are silently ignored by Vosk).
* :class:`SpeechRecognizer` — ``await recognise_menu(menu_id, audio)`` → :class:`MenuChoice`:
  ``matched`` (keyword, DTMF key, confidence), ``silence``, ``no_match`` or ``low_confidence``;
  the IVR falls back to DTMF for the last three. ``await transcribe(audio, spot=…)`` →
  :class:`Transcript` (free text plus keywords spotted with a grammar pass). Decoding runs in a
  bounded thread pool (Vosk releases the GIL while decoding), at most ``max_pending`` jobs wait;
  more raise :class:`SpeechBusy`.

Audio is telephone audio: 16-bit signed little-endian mono PCM at 8 kHz (Asterisk ``Record()`` to
``.wav``, or ``.sln``/``.raw`` signed linear). :func:`read_audio` accepts a WAV file of that sample
format at 8 or 16 kHz and raw signed linear at 8 kHz; anything else (stereo, 8-bit, μ-law/GSM WAV,
not a WAV at all) raises :class:`AudioFormatError` with the reason.
"""

from __future__ import annotations

import array
import asyncio
import atexit
import io
import json
import logging
import math
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .flow import IvrFlow, Menu

log = logging.getLogger(__name__)

__all__ = [
    "Audio", "AudioFormatError", "MenuChoice", "MenuGrammar", "MenuGrammars", "ModelUnavailable",
    "SpeechBusy", "SpeechError", "SpeechModel", "SpeechRecognizer", "Transcript", "load_model", "read_audio",
    "SAMPLE_RATE", "OUTCOMES",
]

SAMPLE_RATE = 8000
#: Below this RMS level (16-bit full scale = 32768) the caller said nothing: no decoding at all.
SILENCE_RMS = 200.0
#: A sound whose 20 ms energy envelope varies less than this (standard deviation / mean) is a steady
#: noise or tone, not speech: speech comes in syllables (measured: espeak-ng words 0.87–1.26, white,
#: pink and brown noise 0.05–0.26, a sine tone 0.01).
MIN_SPEECH_VARIATION = 0.4
#: Outcomes of :meth:`SpeechRecognizer.recognise_menu`.
OUTCOMES = ("matched", "silence", "noise", "no_match", "low_confidence")
_MAX_SEGMENT = 4   # longest vocabulary word tried when a Chinese keyword is split into words
_CHUNK = 8000      # bytes per AcceptWaveform call (0.5 s at 8 kHz)


class SpeechError(RuntimeError):
    """Base class of this module's errors."""


class ModelUnavailable(SpeechError):
    """The configured model directory is missing, incomplete or unreadable (the message says which)."""


class AudioFormatError(SpeechError):
    """The audio is not 16-bit mono PCM at a supported rate (the message says what it is)."""


class SpeechBusy(SpeechError):
    """Every worker is busy and ``max_pending`` jobs already wait."""


# -- audio -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Audio:
    """16-bit signed little-endian mono PCM."""

    pcm: bytes
    rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate

    def _samples(self) -> array.array:
        samples = array.array("h")
        samples.frombytes(self.pcm[: len(self.pcm) // 2 * 2])
        return samples

    @property
    def rms(self) -> float:
        """Root mean square level of the samples (0 … 32768)."""
        samples = self._samples()
        if not samples:
            return 0.0
        return math.sqrt(sum(s * s for s in samples) / len(samples))

    @property
    def variation(self) -> float:
        """How much the 20 ms energy envelope varies (standard deviation / mean): high for speech,
        low for steady noise (see :data:`MIN_SPEECH_VARIATION`)."""
        samples = self._samples()
        n = max(1, self.rate // 50)
        levels = [math.sqrt(sum(x * x for x in samples[i:i + n]) / n) for i in range(0, len(samples) - n + 1, n)]
        if not levels:
            return 0.0
        mean = sum(levels) / len(levels)
        if mean == 0:
            return 0.0
        return math.sqrt(sum((x - mean) ** 2 for x in levels) / len(levels)) / mean


def read_audio(source: str | Path | bytes) -> Audio:
    """A WAV file (path or bytes) of 16-bit mono PCM at 8 or 16 kHz, or a ``.sln``/``.raw`` file of
    8 kHz signed linear. Raises :class:`AudioFormatError` otherwise, :class:`FileNotFoundError` when
    the path does not exist."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        data = path.read_bytes()
        if path.suffix.lower() in (".sln", ".raw", ".slin"):
            if len(data) % 2:
                raise AudioFormatError(f"{path.name}: signed linear audio must have an even byte count")
            return Audio(data, SAMPLE_RATE)
        name = path.name
    else:
        data, name = bytes(source), "audio"
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{name}: not a WAV file (expected RIFF/WAVE 16-bit mono PCM at 8 kHz)")
    try:
        with wave.open(io.BytesIO(data)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:  # μ-law, GSM (wav49), float …: not PCM
        raise AudioFormatError(f"{name}: unsupported WAV encoding ({exc}); expected 16-bit PCM") from None
    if channels != 1:
        raise AudioFormatError(f"{name}: {channels} channels; expected mono")
    if width != 2:
        raise AudioFormatError(f"{name}: {8 * width}-bit samples; expected 16-bit")
    if rate not in (8000, 16000):
        raise AudioFormatError(f"{name}: {rate} Hz; expected 8000 Hz (telephone) or 16000 Hz")
    return Audio(frames, rate)


# -- the model -------------------------------------------------------------------------------------

def _check_model_dir(path: Path) -> None:
    if not path.exists():
        raise ModelUnavailable(f"speech model directory {path} does not exist")
    if not path.is_dir():
        raise ModelUnavailable(f"speech model path {path} is not a directory")
    missing = [p for p in ("am/final.mdl", "conf/model.conf") if not (path / p).is_file()]
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        missing.append("graph/HCLG.fst or graph/HCLr.fst + graph/Gr.fst")
    if missing:
        raise ModelUnavailable(f"speech model directory {path} is incomplete: missing {', '.join(missing)}")


class SpeechModel:
    """A loaded Vosk model. Build with :func:`load_model` (shared) or ``SpeechModel(path)`` (own copy)."""

    def __init__(self, path: str | Path):
        try:
            import vosk  # the optional extra: imported only when a model is configured
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ModelUnavailable("the vosk package is not installed (pip install hotline12319[speech])") from exc
        self.path = Path(path).resolve()
        _check_model_dir(self.path)
        vosk.SetLogLevel(-1)
        started = time.monotonic()
        try:
            self._model = vosk.Model(model_path=str(self.path))
        except Exception as exc:
            raise ModelUnavailable(f"speech model {self.path} could not be loaded (corrupt files?): {exc}") from None
        self.load_seconds = time.monotonic() - started
        self._vosk = vosk
        graph = self.path / "graph"
        #: a small ("lookahead") model compiles grammars at run time; a big HCLG model cannot
        self.supports_grammar = (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()

    def knows(self, word: str) -> bool:
        """``word`` is in the model's vocabulary."""
        return self._model.vosk_model_find_word(word) >= 0

    def recognizer(self, rate: int, grammar: Sequence[str] | None = None):
        """A new Kaldi recogniser (one per decode: recognisers are not thread-safe)."""
        if grammar is not None and self.supports_grammar:
            rec = self._vosk.KaldiRecognizer(self._model, float(rate), json.dumps(list(grammar), ensure_ascii=False))
        else:
            rec = self._vosk.KaldiRecognizer(self._model, float(rate))
        rec.SetWords(True)
        return rec

    def spell(self, keyword: str) -> str | None:
        """``keyword`` in vocabulary words separated by spaces (``反映问题`` → ``反映 问题``), or ``None``
        when some part of it is not in the vocabulary."""
        keyword = keyword.strip()
        if not keyword:
            return None
        if self.knows(keyword):
            return keyword
        if " " in keyword:
            parts = [self.spell(p) for p in keyword.split()]
            return None if any(p is None for p in parts) else " ".join(parts)  # type: ignore[arg-type]
        words: list[str] = []
        i = 0
        while i < len(keyword):
            for size in range(min(_MAX_SEGMENT, len(keyword) - i), 0, -1):
                piece = keyword[i:i + size]
                if self.knows(piece):
                    words.append(piece)
                    i += size
                    break
            else:
                return None
        return " ".join(words)


_MODELS: dict[Path, SpeechModel] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _free_models() -> None:
    """Free the models while the vosk module still exists (its finaliser fails at interpreter
    teardown otherwise, printing a traceback on every exit)."""
    with _MODELS_LOCK:
        _MODELS.clear()
    import gc

    gc.collect()


def load_model(path: str | Path) -> SpeechModel:
    """The process-wide model of ``path``, loaded on first use (thread-safe)."""
    key = Path(path).resolve()
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = SpeechModel(key)
            _MODELS[key] = model
            log.info("speech model %s loaded in %.1f s (grammars: %s)", key, model.load_seconds,
                     "yes" if model.supports_grammar else "no, keywords matched in free text")
        return model


# -- grammars --------------------------------------------------------------------------------------

def _compact(text: str) -> str:
    """Words as Vosk returns them (``反映 问题``) joined back as the rules write keywords."""
    parts = text.split()
    if all(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in parts):
        return "".join(parts)
    return " ".join(parts)


@dataclass(frozen=True)
class MenuGrammar:
    """The spoken keywords of one menu: ``phrases`` (as the model spells them) → (keyword, key)."""

    menu_id: str
    phrases: dict[str, tuple[str, str]]
    missing: tuple[str, ...] = ()

    @property
    def words(self) -> list[str]:
        return sorted(self.phrases)

    def find_in(self, text: str) -> tuple[str, str] | None:
        """The first keyword of this menu that occurs in free text (models without grammars)."""
        flat = text.replace(" ", "")
        best: tuple[int, str, str] | None = None
        for phrase, (keyword, key) in self.phrases.items():
            pos = flat.find(keyword.replace(" ", ""))
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, keyword, key)
        return (best[1], best[2]) if best else None


class MenuGrammars:
    """One :class:`MenuGrammar` per menu of ``flow`` (built once; rebuild on a rules reload)."""

    def __init__(self, model: SpeechModel, flow: IvrFlow):
        self.model = model
        self.flow = flow
        self._by_menu: dict[str, MenuGrammar] = {m.id: self._build(m) for m in flow.menus}
        missing = sorted({w for g in self._by_menu.values() for w in g.missing})
        if missing:
            log.warning("speech: keywords not in the model's vocabulary (never recognised): %s", "、".join(missing))

    def _build(self, menu: Menu) -> MenuGrammar:
        phrases: dict[str, tuple[str, str]] = {}
        missing: list[str] = []
        for option in menu.options:
            for keyword in option.keywords:
                spelt = self.model.spell(keyword)
                if spelt is None:
                    missing.append(keyword)
                elif spelt not in phrases:
                    phrases[spelt] = (keyword, option.key)
        return MenuGrammar(menu.id, phrases, tuple(missing))

    def __getitem__(self, menu_id: str) -> MenuGrammar:
        return self._by_menu[menu_id]

    def __contains__(self, menu_id: object) -> bool:
        return menu_id in self._by_menu

    @property
    def missing(self) -> list[str]:
        return sorted({w for g in self._by_menu.values() for w in g.missing})


# -- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MenuChoice:
    """What a caller said at a menu. ``key`` is the DTMF key the keyword stands for (``matched`` only)."""

    menu_id: str
    outcome: str                 # one of OUTCOMES
    keyword: str = ""
    key: str = ""
    confidence: float = 0.0
    text: str = ""               # what the recogniser heard (for the log and the call record)
    seconds: float = 0.0         # audio length

    @property
    def matched(self) -> bool:
        return self.outcome == "matched"


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float
    decode_seconds: float
    spotted: tuple[tuple[str, float], ...] = ()      # (keyword, confidence) from the grammar pass
    words: tuple[dict, ...] = field(default=(), repr=False)

    @property
    def real_time_factor(self) -> float:
        return self.decode_seconds / self.seconds if self.seconds else 0.0


def _decode(model: SpeechModel, audio: Audio, grammar: Sequence[str] | None) -> dict:
    rec = model.recognizer(audio.rate, grammar)
    pcm = audio.pcm
    words: list[dict] = []
    texts: list[str] = []
    for i in range(0, len(pcm), _CHUNK):
        if rec.AcceptWaveform(pcm[i:i + _CHUNK]):
            part = json.loads(rec.Result())
            words += part.get("result", [])
            if part.get("text"):
                texts.append(part["text"])
    final = json.loads(rec.FinalResult())
    words += final.get("result", [])
    if final.get("text"):
        texts.append(final["text"])
    return {"text": " ".join(texts).strip(), "result": words}


# -- the recogniser service ------------------------------------------------------------------------

class SpeechRecognizer:
    """Menu recognition and transcription on one shared model, decoding in a bounded thread pool.

    ``min_confidence``: a keyword whose lowest word confidence is below it is ``low_confidence``
    (the caller is asked to press a key). ``workers`` threads decode; at most ``max_pending`` jobs
    wait for one (then :class:`SpeechBusy`: the IVR falls back to DTMF, a transcription is retried
    later by its caller).
    """

    def __init__(self, model: SpeechModel, flow: IvrFlow, *, min_confidence: float = 0.6, workers: int = 2,
                 max_pending: int = 32, silence_rms: float = SILENCE_RMS):
        if workers < 1 or max_pending < 0:
            raise ValueError("workers must be >= 1 and max_pending >= 0")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError("min_confidence must be between 0 and 1")
        self.model = model
        self.min_confidence = min_confidence
        self.silence_rms = silence_rms
        self.workers = workers
        self.max_pending = max_pending
        self.grammars = MenuGrammars(model, flow)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="speech")
        self._slots = threading.BoundedSemaphore(workers + max_pending)
        self.decoded = 0
        self.refused = 0

    def use_flow(self, flow: IvrFlow) -> None:
        """New rules: rebuild the menu grammars."""
        self.grammars = MenuGrammars(self.model, flow)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self, fn, *args):
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            raise SpeechBusy(f"speech: {self.workers} worker(s) busy and {self.max_pending} job(s) waiting")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._slots.release()
            self.decoded += 1

    # -- menus ---------------------------------------------------------------------------
    def choose(self, menu_id: str, audio: Audio) -> MenuChoice:
        """Blocking: recognise a menu keyword in ``audio`` (see :meth:`recognise_menu`).

        ``silence``: too quiet or too short to be speech (no decoding). ``noise``: a steady sound
        (:data:`MIN_SPEECH_VARIATION`). ``no_match``: no keyword, or keywords of different options
        (a grammar forces every sound onto some grammar word, so an unknown word usually comes back
        as several keywords in a row). ``low_confidence``: one keyword, but below ``min_confidence``.
        """
        grammar = self.grammars[menu_id]
        if audio.seconds < 0.1 or audio.rms < self.silence_rms:
            return MenuChoice(menu_id, "silence", seconds=audio.seconds)
        if audio.variation < MIN_SPEECH_VARIATION:
            return MenuChoice(menu_id, "noise", seconds=audio.seconds)
        result = _decode(self.model, audio, grammar.words if self.model.supports_grammar else None)
        text = result["text"]
        if self.model.supports_grammar:
            hits, used = self._grammar_hits(grammar, result["result"])
        else:
            hit = grammar.find_in(text)
            hits, used = ([hit], [w for w in result["result"] if w.get("word") in text]) if hit else ([], [])
        if len({h[1] for h in hits}) != 1:
            return MenuChoice(menu_id, "no_match", text=text, seconds=audio.seconds)
        keyword, key = hits[0]
        confidence = round(min([w.get("conf", 0.0) for w in used] or [0.0]), 3)
        outcome = "matched" if confidence >= self.min_confidence else "low_confidence"
        return MenuChoice(menu_id, outcome, keyword=keyword, key=key if outcome == "matched" else "",
                          confidence=confidence, text=text, seconds=audio.seconds)

    @staticmethod
    def _grammar_hits(grammar: MenuGrammar, words: list[dict]) -> tuple[list[tuple[str, str]], list[dict]]:
        """The keywords (longest phrase first) that the recognised words spell, and those words."""
        hits: list[tuple[str, str]] = []
        used: list[dict] = []
        phrases = sorted(grammar.phrases, key=lambda p: -len(p.split()))
        i = 0
        while i < len(words):
            for phrase in phrases:
                parts = phrase.split()
                if [w.get("word") for w in words[i:i + len(parts)]] == parts:
                    hits.append(grammar.phrases[phrase])
                    used += words[i:i + len(parts)]
                    i += len(parts)
                    break
            else:
                i += 1
        return hits, used

    async def recognise_menu(self, menu_id: str, audio: Audio) -> MenuChoice:
        """The keyword the caller said at menu ``menu_id`` and the key it stands for.

        Raises ``KeyError`` for an unknown menu and :class:`SpeechBusy` when the pool is full."""
        if menu_id not in self.grammars:
            raise KeyError(f"no menu {menu_id!r} in the IVR flow")
        return await self._run(self.choose, menu_id, audio)

    # -- transcription -------------------------------------------------------------------
    def transcribe_sync(self, audio: Audio, spot: Iterable[str] = ()) -> Transcript:
        """Blocking: free transcription, plus a grammar pass over the keywords ``spot``."""
        started = time.monotonic()
        if audio.rms < self.silence_rms:
            return Transcript("", audio.seconds, time.monotonic() - started)
        result = _decode(self.model, audio, None)
        text = _compact(result["text"]) if result["text"] else ""
        spotted: dict[str, float] = {}
        spellings = {s: k for k in spot if (s := self.model.spell(k)) is not None}
        if spellings and self.model.supports_grammar:
            found = _decode(self.model, audio, sorted(spellings))
            words = found["result"]
            for phrase, keyword in spellings.items():
                parts = phrase.split()
                for i in range(len(words) - len(parts) + 1):
                    if [w.get("word") for w in words[i:i + len(parts)]] == parts:
                        conf = min(w.get("conf", 0.0) for w in words[i:i + len(parts)])
                        if conf >= self.min_confidence:
                            spotted[keyword] = max(spotted.get(keyword, 0.0), round(conf, 3))
        for keyword in spellings.values():    # keywords the free text itself contains
            if keyword.replace(" ", "") in text.replace(" ", ""):
                spotted.setdefault(keyword, 1.0)
        return Transcript(text, audio.seconds, time.monotonic() - started,
                          tuple(sorted(spotted.items())), tuple(result["result"]))

    async def transcribe(self, audio: Audio, spot: Iterable[str] = ()) -> Transcript:
        return await self._run(self.transcribe_sync, audio, tuple(spot))

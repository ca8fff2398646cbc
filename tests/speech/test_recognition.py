"""Menu recognition on the real model: every keyword of every menu, spoken by espeak-ng at 8 kHz,
gives its option's key; silence, noise, unknown words, bad audio and bad models have their outcome."""

from __future__ import annotations

import asyncio
import shutil
import wave

import pytest

from ivr.speech import (
    AudioFormatError, MenuChoice, ModelUnavailable, SpeechBusy, SpeechModel, SpeechRecognizer, load_model,
    read_audio,
)
from speech_audio import KOREAN_KEYWORDS, MODEL_DIR, sox, synthesise


def test_the_model_is_loaded_once_and_shared(model):
    assert load_model(MODEL_DIR) is model
    assert load_model(str(MODEL_DIR) + "/") is model
    assert model.supports_grammar


def test_grammars_come_from_the_menus_keywords(recogniser, korean_flow):
    for menu in korean_flow.menus:
        grammar = recogniser.grammars[menu.id]
        expected = {w: key for key, words in KOREAN_KEYWORDS[menu.id].items() for w in words}
        assert {kw: key for kw, key in grammar.phrases.values()} == expected
        assert grammar.missing == ()


def test_a_keyword_outside_the_vocabulary_is_reported_not_dropped(model, korean_flow, caplog):
    from dataclasses import replace

    main = korean_flow.menu("main")
    option = replace(main.options[0], keywords=("상담원", "ㅋㅋ없는말ㅋㅋ"))
    flow = replace(korean_flow, entry=replace(main, options=(option, *main.options[1:])))
    rec = SpeechRecognizer(model, flow)
    try:
        assert rec.grammars["main"].missing == ("ㅋㅋ없는말ㅋㅋ",)
        assert rec.grammars.missing == ["ㅋㅋ없는말ㅋㅋ"]
        assert "ㅋㅋ없는말ㅋㅋ" in caplog.text
    finally:
        rec.close()


def test_chinese_keywords_are_spelt_in_vocabulary_words(model):
    # a keyword that is not one vocabulary word is split into the longest vocabulary words;
    # the Korean model knows 서울 and 병원 but not the run-together form
    assert model.spell("서울") == "서울"
    assert model.spell("서울 병원") == "서울 병원"
    assert model.spell("ㅋㅋ없는말ㅋㅋ") is None


CASES = [(menu, key, word) for menu, keys in KOREAN_KEYWORDS.items() for key, words in keys.items() for word in words]


@pytest.mark.parametrize("menu,key,word", CASES, ids=[f"{m}-{k}" for m, k, _ in CASES])
def test_every_spoken_keyword_gives_its_options_key(recogniser, korean_flow, tmp_path, menu, key, word):
    audio = read_audio(synthesise(word, tmp_path / "said.wav"))
    choice = recogniser.choose(menu, audio)
    assert choice.outcome == "matched", choice
    assert (choice.keyword, choice.key) == (word, key)
    assert choice.confidence >= recogniser.min_confidence
    assert korean_flow.menu(menu).option(choice.key).keywords == (word,)


def test_silence_is_silence(recogniser, tmp_path):
    choice = recogniser.choose("main", read_audio(sox(["trim", "0", "3"], tmp_path / "quiet.wav")))
    assert choice == MenuChoice("main", "silence", seconds=3.0)


@pytest.mark.parametrize("colour", ["whitenoise", "pinknoise", "brownnoise"])
def test_steady_noise_is_not_taken_for_a_keyword(recogniser, tmp_path, colour):
    # without the check the grammar forces pink noise onto a keyword with confidence 1.0
    choice = recogniser.choose("main", read_audio(sox(["synth", "2", colour, "vol", "0.3"], tmp_path / "n.wav")))
    assert choice.outcome == "noise"
    assert choice.key == ""


def test_an_unknown_word_is_no_match(recogniser, tmp_path):
    # 감사합니다 is not a keyword: the grammar hears it as several different keywords in a row
    choice = recogniser.choose("main", read_audio(synthesise("감사합니다", tmp_path / "thanks.wav")))
    assert choice.outcome == "no_match"
    assert choice.key == ""
    assert len(choice.text.split()) > 1


def test_below_the_confidence_threshold_asks_for_a_key(model, korean_flow, tmp_path):
    strict = SpeechRecognizer(model, korean_flow, min_confidence=1.0)
    try:
        # slow speech of 병원 is recognised with less than full confidence
        choice = strict.choose("main", read_audio(synthesise("병원", tmp_path / "slow.wav", speed=120)))
        assert choice.outcome == "low_confidence"
        assert choice.keyword == "병원" and choice.key == ""
        assert choice.confidence < 1.0
    finally:
        strict.close()


def test_16_khz_audio_is_recognised_too(recogniser, tmp_path):
    choice = recogniser.choose("main", read_audio(synthesise("상담원", tmp_path / "wide.wav", rate=16000)))
    assert (choice.outcome, choice.key) == ("matched", "0")


def test_signed_linear_files_are_8_khz_audio(recogniser, tmp_path):
    wav = synthesise("서울", tmp_path / "s.wav")
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    (tmp_path / "s.sln").write_bytes(pcm)
    choice = recogniser.choose("main", read_audio(tmp_path / "s.sln"))
    assert (choice.outcome, choice.key) == ("matched", "2")


@pytest.mark.parametrize("kwargs,reason", [
    ({"channels": 2}, "2 channels"),
    ({"bits": 8, "encoding": "unsigned-integer"}, "8-bit"),
    ({"rate": 44100}, "44100 Hz"),
    ({"bits": 8, "encoding": "u-law"}, "unsupported WAV encoding"),
])
def test_audio_in_the_wrong_format_is_refused_with_the_reason(tmp_path, kwargs, reason):
    path = synthesise("서울", tmp_path / "bad.wav", **kwargs)
    with pytest.raises(AudioFormatError, match=reason):
        read_audio(path)


def test_something_that_is_not_audio_is_refused(tmp_path):
    (tmp_path / "x.wav").write_text("not audio at all", encoding="utf-8")
    with pytest.raises(AudioFormatError, match="not a WAV file"):
        read_audio(tmp_path / "x.wav")
    (tmp_path / "odd.sln").write_bytes(b"\x00\x01\x02")
    with pytest.raises(AudioFormatError, match="even byte count"):
        read_audio(tmp_path / "odd.sln")


def test_a_missing_model_directory_is_reported(tmp_path):
    with pytest.raises(ModelUnavailable, match="does not exist"):
        SpeechModel(tmp_path / "nowhere")


def test_an_incomplete_model_directory_is_reported(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(ModelUnavailable, match="incomplete: missing am/final.mdl"):
        SpeechModel(tmp_path)


def test_a_corrupt_model_is_reported_and_the_process_lives_on(tmp_path):
    bad = tmp_path / "model"
    shutil.copytree(MODEL_DIR / "conf", bad / "conf")
    (bad / "am").mkdir()
    (bad / "am" / "final.mdl").write_bytes(b"garbage")
    (bad / "graph").mkdir()
    for name in ("HCLr.fst", "Gr.fst"):
        (bad / "graph" / name).write_bytes(b"garbage")
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        SpeechModel(bad)


async def test_decoding_runs_in_the_pool_and_a_full_pool_refuses(model, korean_flow, tmp_path):
    rec = SpeechRecognizer(model, korean_flow, workers=1, max_pending=1)
    audio = read_audio(synthesise("상담원 상담원 상담원 상담원", tmp_path / "long.wav"))
    try:
        jobs = [asyncio.ensure_future(rec.recognise_menu("main", audio)) for _ in range(3)]
        done = await asyncio.gather(*jobs, return_exceptions=True)
        refused = [r for r in done if isinstance(r, SpeechBusy)]
        answered = [r for r in done if isinstance(r, MenuChoice)]
        assert len(refused) == 1 and len(answered) == 2
        assert all(r.key == "0" for r in answered)
        assert rec.refused == 1
        with pytest.raises(KeyError):
            await rec.recognise_menu("no-such-menu", audio)
    finally:
        rec.close()

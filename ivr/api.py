"""The public surface of ``ivr`` for ``hotline`` (design §2: one declared seam).

``hotline`` imports from here and from the three seam modules — :mod:`ivr.events` (the domain
events and snapshots), :mod:`ivr.bus` (the in-process bus) and :mod:`ivr.directory` (the
look-ups ``hotline`` answers) — and from nothing else in ``ivr``
(``tests/foundation/test_seam.py`` checks every import form). Everything below is what a
ticketing backend needs to drive telephony without knowing AMI or AGI: the IVR flow and its
rendering, the command facade and its errors, agent seats, replay of captures, the
telephony runtime that wires the protocol parts together, speech (:mod:`ivr.speech`) and
the IVR over Twilio (:mod:`ivr.twilio`).
"""

from __future__ import annotations

from ivr.agents import WRAP_UP_REASON
from ivr.dialplan import render_dialplan
from ivr.events import AgentSnapshot, AgentState
from ivr.facade import CallbackResult, CommandFailed, FacadeError, Target, UnknownCall, UnknownTarget, parse_target
from ivr.flow import FlowError, IvrFlow, MenuAction, flow_from_rules
from ivr.prompts import PromptError, build_prompts
from ivr.calls import UnsupportedAmi
from ivr.replay import replay_bytes, snapshot_to_json
from ivr.scripts import SpeechScriptSettings, digits_for_ticket
from ivr.twilio import SignatureCheck, TwilioVoice, public_url
from ivr.speech import (
    AudioFormatError, ModelUnavailable, SpeechBusy, SpeechRecognizer, Transcript, load_model, read_audio,
)

__all__ = [
    "WRAP_UP_REASON", "AgentSnapshot", "AgentState",
    "render_dialplan", "FlowError", "IvrFlow", "MenuAction", "flow_from_rules", "PromptError", "build_prompts",
    "CallbackResult", "CommandFailed", "FacadeError", "Target", "UnknownCall", "UnknownTarget", "parse_target",
    "replay_bytes", "snapshot_to_json", "UnsupportedAmi", "digits_for_ticket",
    "AudioFormatError", "ModelUnavailable", "SpeechBusy", "SpeechRecognizer", "SpeechScriptSettings", "Transcript",
    "load_model", "read_audio", "SignatureCheck", "TwilioVoice", "public_url",
]

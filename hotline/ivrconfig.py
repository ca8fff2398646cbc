"""Render the Asterisk configuration of the IVR from ``routing_rules.yaml``.

The hotline side loads and validates the rules; ``ivr`` turns the flow into a
dialplan and prompts without knowing where the rules came from (design §2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hotline.rules import load_rules
from ivr.api import build_prompts, flow_from_rules, render_dialplan


def render_dialplan_from_rules_file(path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                                    **kwargs: Any) -> list[Path]:
    """``hotline dialplan render``: extensions.conf, queues.conf, manager.conf.example."""
    return render_dialplan(flow_from_rules(load_rules(path)), out_dir=out_dir, **kwargs)


def build_prompts_from_rules_file(path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                                  recordings_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> list[Path]:
    """``hotline prompts build``; recordings are looked up in ``recordings_dir`` or next to the rules."""
    flow = flow_from_rules(load_rules(path))
    return build_prompts(flow, out_dir, recordings_dir=recordings_dir or Path(path).resolve().parent, **kwargs)

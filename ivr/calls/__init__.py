"""Call tracker: AMI events in, one :class:`~ivr.events.CallSnapshot` per citizen conversation out.

:class:`CallTracker` (:mod:`.tracker`) keeps the live calls and publishes the domain events of
:mod:`ivr.events`; each family of AMI events has its own module of handlers:

* :mod:`.channels` — channels and bridges: who belongs to which call, the caller ID, answer, hang-up;
* :mod:`.dials` — ``Dial()`` legs, district lines, blind and attended transfers (and their consult calls);
* :mod:`.queues` — queue join/leave/abandon and the agent who answers;
* :mod:`.ivr_events` — the IVR path: ``Newexten``, the dialplan's ``UserEvent`` marks, DTMF,
  ``HOTLINE_*`` variables and recordings;
* :mod:`.times` — PBX time: stamps carried by messages and CEL records;
* :mod:`.resync` — reconciling with the PBX's channel list after an AMI reconnect;
* :mod:`.compat` — which PBXs the call model fits (AMI 2, Asterisk 12+).

:mod:`.state` holds the tracker's internal records of calls and channels.
"""

from __future__ import annotations

import copy  # noqa: F401  (benchmarks/sim_e2e_bench.py swaps ``ivr.calls.copy`` in its what-if runs)

from .compat import UnsupportedAmi
from .state import is_local_one
from .times import message_time, parse_pbx_time
from .tracker import CallTracker

__all__ = ["CallTracker", "UnsupportedAmi", "message_time", "parse_pbx_time", "is_local_one"]

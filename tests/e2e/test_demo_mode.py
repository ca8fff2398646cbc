"""Demo mode: with no AMI host, serve runs the built-in PBX simulator, the AMI controller
follows its calls over real TCP, and the recorder persists them."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from hotline.calls.models import Call
from hotline.config import Settings
from hotline.telephony import TelephonyService


async def test_demo_calls_flow_from_simulator_to_database(db_factory, tmp_path):
    settings = Settings(var_dir=tmp_path, demo_call_rate=4.0, ami_host="")
    svc = TelephonyService(settings, db_factory, sim_speed=25.0, demo_seed=7)
    await svc.start()
    try:
        assert svc.mode == "simulator" and svc.controller.client.connected
        assert svc.controller.resyncs == 1
        for _ in range(300):
            await asyncio.sleep(0.1)
            with db_factory() as s:
                ended = s.scalar(select(func.count()).select_from(Call).where(Call.ended_at.is_not(None)))
            if ended >= 5:
                break
        assert ended >= 5, "demo calls were not persisted"
    finally:
        await svc.stop()
    with db_factory() as s:
        calls = s.scalars(select(Call).where(Call.ended_at.is_not(None))).all()
        assert all(c.caller and c.started_at and c.disposition for c in calls)
        assert {c.dialed for c in calls} == {"12319"}
        # the callers made choices: some digits were recorded on their IVR path
        assert any(c.digits for c in calls)

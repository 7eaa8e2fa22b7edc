"""The processes Exile starts itself run on uvicorn's choice of loop: uvloop where installed, unless told."""

from __future__ import annotations

import asyncio

import pytest

from app.core import loops
from app.core.config import get_settings

uvloop = pytest.importorskip("uvloop")  # not on Windows: EVENT_LOOP=auto is asyncio's loop there


@pytest.mark.parametrize(
    ("choice", "kind"), [("auto", uvloop.Loop), ("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)]
)
def test_the_setting_picks_the_loop(monkeypatch: pytest.MonkeyPatch, choice: str, kind: type):
    monkeypatch.setenv("EVENT_LOOP", choice)
    get_settings.cache_clear()
    try:

        async def running() -> asyncio.AbstractEventLoop:
            return asyncio.get_running_loop()

        loop = loops.run(running())
        assert isinstance(loop, kind)
        assert choice == "asyncio" or not isinstance(loop, asyncio.BaseEventLoop)
    finally:
        get_settings.cache_clear()

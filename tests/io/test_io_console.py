"""The text console: lines to commands, replies printed; a real pipe as its terminal."""
from __future__ import annotations

import asyncio
import io
import os

import pytest

from liveedit.io.console import ConsoleInput

pytestmark = pytest.mark.timeout(30)


async def test_lines_become_commands(engine):
    out = io.StringIO()
    con = ConsoleInput(engine, stdin=io.StringIO(), stdout=out)
    assert await con.handle_line("swing arms wider for 2 bars\n") == "[ok] edit: edit done"
    assert engine.commands[-1].text == "swing arms wider" and engine.commands[-1].value == 8.0
    assert engine.commands[-1].source == "console"
    await con.handle_line(":strength 3")
    assert engine.commands[-1].kind == "strength" and engine.commands[-1].value == 3.0
    status = await con.handle_line(":status")
    assert '"count": 3' in status
    assert (await con.handle_line(":bogus")).startswith("[error] unknown command")
    assert (await con.handle_line(":strength 99")).startswith("[error] strength must be between")
    assert ":undo" in await con.handle_line(":help")
    assert await con.handle_line("   ") is None
    assert (await con.handle_line("reject")).startswith("[error] edit:")
    assert len(engine.commands) == 4
    assert "[ok] edit" in out.getvalue()


async def test_reads_a_pipe_until_eof(engine):
    r, w = os.pipe()
    stdin = os.fdopen(r, "r")
    out = io.StringIO()
    con = ConsoleInput(engine, stdin=stdin, stdout=out)
    await con.start()
    os.write(w, b":undo\njump higher\n\xff\xfe bad bytes\n")
    os.close(w)
    await asyncio.wait_for(con._task, 10)  # ends at end of input
    await con.stop()
    kinds = [c.kind for c in engine.commands]
    assert kinds == ["undo", "edit", "edit"] and engine.commands[1].text == "jump higher"
    assert engine.commands[2].text == "\ufffd\ufffd bad bytes"  # decoded leniently, not fatal
    stdin.close()

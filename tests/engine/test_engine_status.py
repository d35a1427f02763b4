"""The one-line status display."""
import asyncio
import io

from liveedit.status import StatusPrinter, format_status


def sample_status(**kw):
    s = {"bpm": 124.0, "beat": 17.5, "beat_source": "audio", "beat_locked": True,
         "edits": [{"id": 1, "text": "swing arms wider", "until_beat": None},
                   {"id": 2, "text": "a very long prompt that goes on and on", "until_beat": 40.0}],
         "window_ms": 182.4, "ahead_frames": 75, "clients": 3, "held_frames": 0}
    s.update(kw)
    return s


def test_format_status_shows_bpm_bar_edits_window_and_clients():
    line = format_status(sample_status())
    assert "\n" not in line
    assert "124.0 bpm" in line and "bar    5.2" in line
    assert "edits[2]: swing arms wider > a very long prompt that…" in line
    assert "window   182 ms" in line and "clients 3" in line
    assert "held" not in line
    assert "bpm?" in format_status(sample_status(beat_locked=False, held_frames=4))
    assert "held 4" in format_status(sample_status(held_frames=4))


class FakeEngine:
    def status(self):
        return sample_status()


class Tty(io.StringIO):
    def isatty(self):
        return True


async def test_printer_rewrites_one_line_on_a_terminal():
    out = Tty()
    task = asyncio.create_task(StatusPrinter(FakeEngine(), out, interval=0.01).run())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    text = out.getvalue()
    assert text.count("\r") >= 3 and text.endswith("\n") and text.count("\n") == 1

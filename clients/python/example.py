"""Watch the live dance from Python and steer it: print the beat and the hands' height, and send an
edit every 8 beats. Start the engine first (`liveedit serve`), then: python clients/python/example.py

Options: --url ws://HOST:PORT/ws, --token SECRET (for a server started with --token), --seconds N.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools

from liveedit.client import LiveEditClient

PROMPTS = ("swing arms wider", "jump higher", "lower your stance", "spin")


async def main(url: str, token: str | None, seconds: float) -> None:
    async with LiveEditClient(url, reconnect=True, token=token) as client:
        print(f"connected; server {client.hello['server']}, protocol {client.hello['protocol']}")
        prompts = itertools.cycle(PROMPTS)
        next_edit_beat = None
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        async for frame in client.frames():
            if frame.joints is not None:  # (24, 3) metres, y up; 20/21 are the wrists
                hands = (frame.joints[20, 1] + frame.joints[21, 1]) / 2
                edits = ", ".join(e.text for e in frame.edits) or "none"
                print(f"\rbeat {frame.beat:7.2f}  {frame.bpm:5.1f} bpm  hands at {hands:4.2f} m  edits: {edits:40s}",
                      end="", flush=True)
            if next_edit_beat is None:
                next_edit_beat = frame.beat + 4
            if frame.beat >= next_edit_beat:
                next_edit_beat += 8
                reply = await client.edit(next(prompts), duration=8)  # lasts two bars
                print(f"\n-> {reply['message']}")
            if loop.time() > end:
                break
        status = (await client.status())["data"]
        print(f"\nengine: {status.get('bpm', 0):.1f} bpm, strength {status.get('strength')}, edits {status.get('edits')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--token", default=None)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.token, args.seconds))

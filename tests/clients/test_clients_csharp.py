"""The Unity receiver compiles: Mono's C# compiler (Debian's mono-mcs) against stand-ins of the
UnityEngine types it uses (tests/clients/csharp/UnityEngineStubs.cs). Checks syntax, the .NET
APIs (ClientWebSocket, ConcurrentQueue, Tasks) and types; it does not run the receiver."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("mcs") is None, reason="Mono's C# compiler is not installed (apt-get install mono-mcs)")
def test_unity_receiver_compiles(tmp_path):
    out = subprocess.run(
        ["mcs", "-target:library", "-langversion:Latest", "-warnaserror+", "-nowarn:649",
         f"-out:{tmp_path / 'LiveEdit.dll'}", str(ROOT / "tests/clients/csharp/UnityEngineStubs.cs"),
         str(ROOT / "clients/unity/LiveEditReceiver.cs")],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "LiveEdit.dll").stat().st_size > 0

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


def test_unity_and_unreal_skeleton_constants_match_the_model():
    import re

    from model.skeleton import JOINT_NAMES, PARENTS, STANDING_PELVIS_HEIGHT

    cs = (ROOT / "clients/unity/LiveEditReceiver.cs").read_text()
    cpp = (ROOT / "clients/unreal/LiveEdit/Source/LiveEdit/Private/LiveEditComponent.cpp").read_text()
    for text in (cs, cpp):
        parents = re.search(r"Parents(?:\[\])?(?:\[24\])?\s*=\s*\{([^}]*)\}", text).group(1)
        assert tuple(int(v) for v in parents.split(",")) == PARENTS
        height = re.search(r"StandingPelvisHeight\s*=\s*([0-9.]+)f", text).group(1)
        assert float(height) == pytest.approx(STANDING_PELVIS_HEIGHT, abs=1e-4)
    names = re.findall(r'TEXT\("([a-z_0-9]+)"\)', cpp.split("JointNames[24]")[1].split("};")[0])
    assert tuple(names) == JOINT_NAMES
    # The Unity bone map is the VMC output's (docs/protocol.md section 5), then none for the hand ends.
    from liveedit.protocol import SMPL_TO_HUMAN_BONES

    bones = re.findall(r"HumanBodyBones\.(\w+)", cs.split("BoneMap =")[1].split("};")[0])
    assert bones == [SMPL_TO_HUMAN_BONES[j] for j in range(22)] + ["LastBone"] * 2

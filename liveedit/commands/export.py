"""`liveedit export dance.npz -o dance.bvh | dance.glb`."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a dance file to BVH or glTF 2.0 (.glb)",
        description="Export the current dance (or --iteration K) to BVH (SMPL skeleton, ZXY Euler channels, "
                    "centimetres by default) or binary glTF 2.0 (skin-free joint hierarchy with one "
                    "animation, metres). The format follows the -o suffix. See docs/offline.md.")
    p.add_argument("dance", help="dance file (.npz)")
    p.add_argument("-o", "--output", required=True, help="file to write: .bvh or .glb")
    p.add_argument("--iteration", type=int, default=None, metavar="K", help="export history iteration K")
    p.add_argument("--scale", type=float, default=100.0, help="BVH units per metre (default 100 = cm)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liveedit.offline.errors import run_command  # noqa: PLC0415

    def body() -> int:
        from liveedit.offline import dancefile  # noqa: PLC0415
        from liveedit.offline.errors import OfflineError, check_output_path  # noqa: PLC0415

        out = check_output_path(args.output, [args.dance], False)
        kind = out.suffix.lower()
        if kind not in {".bvh", ".glb"}:
            raise OfflineError(f"{out}: export writes .bvh or .glb files")
        if not args.scale > 0:
            raise OfflineError(f"--scale must be > 0, got {args.scale}")
        dance = dancefile.load(args.dance)
        motion = dance.current if args.iteration is None else dance.motion_of(args.iteration)
        if kind == ".bvh":
            from liveedit.offline.export_bvh import write_bvh  # noqa: PLC0415

            write_bvh(out, motion, dance.fps, scale=args.scale)
        else:
            from liveedit.offline.export_gltf import write_glb  # noqa: PLC0415

            write_glb(out, motion, dance.fps)
        print(f"wrote {out}: {len(motion)} frames at {dance.fps} fps")
        return 0

    return run_command("export", body)

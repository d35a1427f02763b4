"""Offline workflow: a dance for a whole song, edited turn by turn, exported and rendered.

Modules:
  dancefile   the `.npz` dance file (AIST++-compatible keys + our 151-d motion + full edit history)
  rolling     window planning for continuation (the live engine's rolling windows, run offline)
  generate    song -> dance (`liveedit generate`)
  edit        one editing iteration on a dance file (`liveedit edit`)
  export_bvh  BVH export (`liveedit export ... -o x.bvh`)
  export_gltf glTF 2.0 binary export (`liveedit export ... -o x.glb`)
  render      stick-figure video with the song muxed in (`liveedit render`)

The file format is documented in docs/offline.md.
"""
from liveedit.offline.errors import OfflineError

__all__ = ["OfflineError"]

"""Interface files for tests: a shipped interface with its JointState trigger replaced by a
std_msgs array (a robot whose driver publishes Float32/64MultiArray)."""

from __future__ import annotations

from pathlib import Path

import yaml


def array_trigger_interface(folder: Path, shipped: str, *, source: str = "joints",
                            topic: str = "state", typ: str = "std_msgs/Float64MultiArray",
                            size: int | None = None) -> Path:
    """`shipped` (an interface of joint features) with one trigger source `source` of type
    `typ` on `topic` (its `size` where given), feature k reading `data[k]`; written to
    folder/<shipped>_array.yaml, whose path is returned."""
    from neuroq.deploy.interface import load_interface

    spec = load_interface(shipped).to_dict()
    spec["sources"] = [{"name": source, "type": typ, "topic": topic, "trigger": True,
                        **({"size": size} if size is not None else {})}]
    for k, feature in enumerate(spec["observation"]):
        feature.pop("joint")
        feature.update(source=source, field="data", index=k)
    path = Path(folder) / f"{shipped}_array.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path

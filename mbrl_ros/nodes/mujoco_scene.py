"""The robot's MuJoCo model drawn for Foxglove's 3D panel: geoms posed from measured joint positions.

``MujocoScene(mjcf).scene_update(names, positions, stamp_ns)`` sets the named 1-dof joints
(hinge, slide) of the model to the measured positions, runs forward kinematics only
(``mj_kinematics``: no dynamics, no contacts) and returns one ``foxglove.SceneUpdate`` entity
(JSON form) with a primitive per geom: boxes as cubes, spheres and ellipsoids as spheres,
cylinders and capsules as cylinders (a capsule's length includes its caps). Planes and meshes
are left out. Poses are in the model's world frame, metres.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import mujoco
import numpy as np

_ONE_DOF = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


class MujocoScene:
    """Forward kinematics of one MJCF model, as Foxglove scene primitives.

    Args:
        mjcf: path of the MJCF file.
        frame_id: frame the primitives are expressed in (the model's world frame).
    """

    def __init__(self, mjcf: str | Path, frame_id: str = "world"):
        self.model = mujoco.MjModel.from_xml_path(str(mjcf))
        self.data = mujoco.MjData(self.model)
        self.frame_id = frame_id
        self._qpos_address: dict[str, int] = {}
        for joint in range(self.model.njnt):
            if int(self.model.jnt_type[joint]) in _ONE_DOF:
                name = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_JOINT, joint)
                self._qpos_address[name] = int(self.model.jnt_qposadr[joint])
        self._quat = np.zeros(4)

    @property
    def joint_names(self) -> list[str]:
        """The 1-dof joints a measurement can set."""
        return list(self._qpos_address)

    def set_joints(self, names: Sequence[str], positions: Sequence[float]) -> int:
        """Set the named joints (rad or m) and recompute the poses; returns how many names matched."""
        matched = 0
        for name, position in zip(names, positions):
            address = self._qpos_address.get(name)
            if address is not None and np.isfinite(position):
                self.data.qpos[address] = float(position)
                matched += 1
        mujoco.mj_kinematics(self.model, self.data)
        return matched

    def _pose(self, geom: int) -> dict:
        mujoco.mju_mat2Quat(self._quat, self.data.geom_xmat[geom])
        x, y, z = (float(v) for v in self.data.geom_xpos[geom])
        w, qx, qy, qz = (float(v) for v in self._quat)
        return {"position": {"x": x, "y": y, "z": z}, "orientation": {"x": qx, "y": qy, "z": qz, "w": w}}

    def primitives(self) -> dict[str, list[dict]]:
        """``{"cubes": [...], "spheres": [...], "cylinders": [...]}`` at the current joint positions."""
        out: dict[str, list[dict]] = {"cubes": [], "spheres": [], "cylinders": []}
        for geom in range(self.model.ngeom):
            kind = mujoco.mjtGeom(int(self.model.geom_type[geom]))
            size = self.model.geom_size[geom]
            r, g, b, a = (float(v) for v in self.model.geom_rgba[geom])
            color = {"r": r, "g": g, "b": b, "a": a}
            if kind == mujoco.mjtGeom.mjGEOM_BOX:
                out["cubes"].append({"pose": self._pose(geom), "color": color,
                                     "size": {"x": 2 * size[0], "y": 2 * size[1], "z": 2 * size[2]}})
            elif kind in (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_ELLIPSOID):
                radii = size[:1].repeat(3) if kind == mujoco.mjtGeom.mjGEOM_SPHERE else size
                out["spheres"].append({"pose": self._pose(geom), "color": color,
                                       "size": {"x": 2 * radii[0], "y": 2 * radii[1], "z": 2 * radii[2]}})
            elif kind in (mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_CAPSULE):
                caps = 2 * size[0] if kind == mujoco.mjtGeom.mjGEOM_CAPSULE else 0.0
                out["cylinders"].append({"pose": self._pose(geom), "color": color, "bottom_scale": 1.0,
                                         "top_scale": 1.0,
                                         "size": {"x": 2 * size[0], "y": 2 * size[0], "z": 2 * size[1] + caps}})
        for primitives in out.values():
            for primitive in primitives:
                primitive["size"] = {k: float(v) for k, v in primitive["size"].items()}
        return out

    def scene_update(self, names: Sequence[str], positions: Sequence[float], stamp_ns: int) -> dict:
        """``foxglove.SceneUpdate`` (JSON form): entity ``robot`` posed at the measured joints."""
        self.set_joints(names, positions)
        return {"deletions": [], "entities": [{
            "timestamp": {"sec": int(stamp_ns) // 1_000_000_000, "nsec": int(stamp_ns) % 1_000_000_000},
            "frame_id": self.frame_id, "id": "robot", "frame_locked": False, **self.primitives()}]}

"""MP4 videos of chosen training episodes (``mbrl-ros train --video 0,last``), with the plan drawn in.

Frames come from MuJoCo's offscreen renderer on a headless OpenGL context: EGL, else OSMesa
(``MUJOCO_GL=egl`` or ``osmesa`` picks one; ``apt-get install libosmesa6`` provides OSMesa where
there is no EGL). The context is built here rather than through ``mujoco.Renderer``, whose backend
is fixed when ``mujoco`` is first imported. ``imageio-ffmpeg`` writes H.264 MP4s.

The plan overlay: after every MPC step the model's mean prediction of the chosen action sequence
(``(H, O)`` observations; the true physics when the model cannot roll out) is turned into the
positions of the MJCF's sites (the cartpole's pole tip, the reacher's fingertip) by forward
kinematics on a scratch ``MjData``; each site's predicted path is a magenta line (fixed pixel
width) from where it is now, with a sphere at every predicted step. Random (seed) episodes have no plan and show none.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import mujoco
import numpy as np

__all__ = ["EpisodeVideo", "TrainingVideos", "VideoError", "parse_episodes"]

#: Magenta: no MJCF of ours uses it, so the plan stands out (and tests can find it).
_PLAN_RGBA = np.array([1.0, 0.1, 1.0, 1.0], dtype=np.float32)
#: Line width of the plan in pixels (a LINE geom keeps its width at any resolution).
_PLAN_LINE_PX = 3.0


class VideoError(RuntimeError):
    """Videos cannot be written here (no headless OpenGL, bad episode list, unwritable file)."""


def parse_episodes(text: str, episodes: int) -> list[int]:
    """``"0,last"``, ``"1,3,-1"`` -> sorted episode indices in ``[0, episodes)``; ``last`` = ``-1``."""
    chosen = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            index = episodes - 1 if item == "last" else int(item)
        except ValueError:
            raise VideoError(f"--video: {item!r} is not an episode index (use e.g. 0,last or 0,2,5)") from None
        index = index + episodes if index < 0 else index
        if not 0 <= index < episodes:
            raise VideoError(f"--video: episode {item} is outside 0..{episodes - 1} ({episodes} episodes)")
        chosen.add(index)
    if not chosen:
        raise VideoError("--video: no episode given (use e.g. 0,last)")
    return sorted(chosen)


def _gl_context(width: int, height: int) -> Any:
    """A current headless OpenGL context: ``MUJOCO_GL`` if egl/osmesa, else EGL, else OSMesa."""
    wanted = os.environ.get("MUJOCO_GL", "").lower().strip()
    backends = [wanted] if wanted in ("egl", "osmesa") else ["egl", "osmesa"]
    errors = []
    for backend in backends:
        try:
            if backend == "egl":
                from mujoco.egl import GLContext
            else:
                from mujoco.osmesa import GLContext
            context = GLContext(width, height)
            context.make_current()
            return context
        except Exception as exc:  # ImportError, RuntimeError or OpenGL errors, backend-specific
            errors.append(f"{backend}: {type(exc).__name__}: {exc}")
    raise VideoError("no headless OpenGL for MuJoCo rendering (" + "; ".join(errors) + "); install EGL "
                     "(libegl1) or OSMesa (apt-get install libosmesa6) and set MUJOCO_GL=egl or osmesa")


class EpisodeVideo:
    """One MP4: :meth:`frame` renders the task's current physics (plus a plan), :meth:`close` ends it.

    Args:
        task: a MuJoCo task (``task.physics.model`` / ``.data``).
        path: the MP4 to write.
        width, height: frame size in pixels (at most the MJCF's ``offwidth`` x ``offheight``).
        fps: frames per second (default: one frame per control period, real speed).
        camera: an MJCF camera's name (default: a free camera framing the whole model from the side).
    """

    def __init__(self, task: Any, path: str | Path, *, width: int = 320, height: int = 240,
                 fps: float | None = None, camera: str | None = None):
        import imageio.v2 as imageio

        physics = getattr(task, "physics", None)
        if physics is None:
            raise VideoError(f"task {getattr(task, 'name', task)!r} has no MuJoCo physics to render")
        self.task, self.model, self.data = task, physics.model, physics.data
        off = self.model.vis.global_
        if width > off.offwidth or height > off.offheight:
            raise VideoError(f"video {width}x{height} exceeds the MJCF's offscreen buffer "
                             f"{off.offwidth}x{off.offheight} (<visual><global offwidth/offheight>)")
        self.width, self.height = int(width), int(height)
        self._gl = _gl_context(self.width, self.height)
        self._con = mujoco.MjrContext(self.model, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._con)
        self._scene = mujoco.MjvScene(self.model, maxgeom=self.model.ngeom + 1000)
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        if camera:
            camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            if camera_id < 0:
                raise VideoError(f"camera {camera!r} is not in the MJCF")
            self._camera.type, self._camera.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, camera_id
        else:
            # The whole model (the cartpole's full rail), seen from the side and a little above: a
            # fixed MJCF camera loses a cart that drives off, as early learned models do.
            mujoco.mjv_defaultFreeCamera(self.model, self._camera)
            self._camera.azimuth, self._camera.elevation = 90.0, -10.0
            self._camera.distance *= 0.6   # mjv_defaultFreeCamera leaves a wide margin around the extent
        self._viewport = mujoco.MjrRect(0, 0, self.width, self.height)
        self._rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)  # reused every frame
        self._scratch = mujoco.MjData(self.model)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        period = float(getattr(task.spec, "control_period", 0.05) or 0.05)
        self.fps = float(fps) if fps else 1.0 / period
        # macro_block_size 1: tiny test frames (e.g. 64x48) keep their size instead of being padded.
        self._writer = imageio.get_writer(str(self.path), fps=self.fps, codec="libx264", macro_block_size=1,
                                          ffmpeg_log_level="error")
        self.frames = 0

    def plan_sites(self, plan_obs: np.ndarray) -> np.ndarray:
        """``(H, S, 3)`` world positions of the model's ``S`` sites along predicted observations ``(H, O)``."""
        out = np.empty((len(plan_obs), self.model.nsite, 3))
        for h, obs in enumerate(plan_obs):   # H is a few dozen: forward kinematics per step is cheap
            mujoco.mj_setState(self.model, self._scratch, self.task.physics_state_from_obs(obs),
                               mujoco.mjtState.mjSTATE_FULLPHYSICS)
            mujoco.mj_kinematics(self.model, self._scratch)
            out[h] = self._scratch.site_xpos
        return out

    def _draw_plan(self, plan_obs: np.ndarray) -> None:
        sites = self.plan_sites(plan_obs)                                  # (H, S, 3)
        path = np.concatenate([self.data.site_xpos[None], sites])          # from where the sites are now
        radius = 0.015   # m: small next to a 0.6 m pole; the line keeps the plan visible at low resolution
        scene = self._scene
        for h in range(len(sites)):
            for s in range(self.model.nsite):
                if scene.ngeom + 2 > scene.maxgeom:
                    return
                line = scene.geoms[scene.ngeom]
                mujoco.mjv_initGeom(line, mujoco.mjtGeom.mjGEOM_LINE, np.zeros(3), np.zeros(3), np.eye(3).ravel(),
                                    _PLAN_RGBA)
                mujoco.mjv_connector(line, mujoco.mjtGeom.mjGEOM_LINE, _PLAN_LINE_PX, path[h, s], path[h + 1, s])
                sphere = scene.geoms[scene.ngeom + 1]
                mujoco.mjv_initGeom(sphere, mujoco.mjtGeom.mjGEOM_SPHERE, np.full(3, radius), path[h + 1, s],
                                    np.eye(3).ravel(), _PLAN_RGBA)
                scene.ngeom += 2

    def frame(self, plan_obs: np.ndarray | None = None) -> None:
        """Append the current physics state as a frame, with the predicted ``plan_obs (H, O)`` drawn in."""
        self._gl.make_current()
        mujoco.mjv_updateScene(self.model, self.data, self._option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        if plan_obs is not None and len(plan_obs) and self.model.nsite:
            self._draw_plan(np.asarray(plan_obs, dtype=np.float64))
        mujoco.mjr_render(self._viewport, self._scene, self._con)
        mujoco.mjr_readPixels(self._rgb, None, self._viewport, self._con)
        self._writer.append_data(np.flipud(self._rgb))   # OpenGL rows run bottom-up
        self.frames += 1

    def close(self) -> None:
        self._writer.close()
        self._con.free()
        self._gl.free()


class TrainingVideos:
    """Hooks for :func:`mbrl_ros.learning.loop.run_learning` that film the chosen episodes.

    ``on_plan`` keeps the newest plan's prediction, ``on_transition`` renders the state after each
    step with it, ``on_episode`` closes the episode's MP4 (``<folder>/episode_<k>.mp4``).
    """

    def __init__(self, task: Any, episodes: Sequence[int], folder: str | Path, **video_options: Any):
        import torch

        self.task, self.episodes, self.folder = task, set(episodes), Path(folder)
        self.options = video_options
        self.written: list[Path] = []
        self._episode = 0
        self._video: EpisodeVideo | None = None
        self._plan: np.ndarray | None = None
        self._generator = torch.Generator().manual_seed(0)   # the run's own generators stay untouched

    def on_plan(self, obs: np.ndarray, actions: np.ndarray, model: Any) -> None:
        if self._episode not in self.episodes:
            return
        import torch

        from mbrl_ros.models.base import LearnedModel

        if isinstance(model, LearnedModel):
            with torch.no_grad():
                trajectory = model.rollout(torch.as_tensor(obs, dtype=torch.float32),
                                           torch.as_tensor(np.asarray(actions)[None], dtype=torch.float32),
                                           generator=self._generator)
            self._plan = trajectory[0].mean(0).cpu().numpy()
        else:   # the oracle: its prediction is the true physics
            self._plan = self.task.rollout(np.asarray(obs), np.asarray(actions)[None])[0]

    def on_transition(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> None:
        if self._episode not in self.episodes:
            return
        if self._video is None:
            self._video = EpisodeVideo(self.task, self.folder / f"episode_{self._episode}.mp4", **self.options)
        plan = self._plan
        self._video.frame(plan[1:] if plan is not None else None)   # plan[0]: the state just reached
        self._plan = None

    def on_episode(self, _record: Any = None) -> None:
        if self._video is not None:
            self._video.close()
            self.written.append(self._video.path)
            self._video = None
        self._episode += 1

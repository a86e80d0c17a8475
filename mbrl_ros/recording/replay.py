"""Offline learning from a recorded bag (``mbrl-ros train-from-bag``).

The bag's states (``state_topic``, default ``/mbrl/state``) and commands
(``/<controller>/commands``) are replayed in the order the recorder received them
through the same steps ``model_learner`` runs on each message: the same message checks
(:func:`~mbrl_ros.nodes.conversions.joint_state_to_sample`,
:func:`~mbrl_ros.nodes.conversions.command_to_action`), the same state layout, the same
:class:`TransitionPairing` (tags, held commands, gaps), the same clipping into a
:class:`~mbrl_ros.learning.loop.TransitionBuffer`. Episodes are counted by the reset gaps
the pairing drops, so transition ``i`` belongs to episode ``episode[i]``.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from mbrl_ros.learning.loop import TransitionBuffer
from mbrl_ros.learning.pairing import TransitionPairing
from mbrl_ros.nodes.conversions import (
    InvalidMessageError,
    command_to_action,
    joint_state_to_sample,
    message_bytes,
    seconds_to_ns,
)
from mbrl_ros.nodes.joint_layout import state_layout
from mbrl_ros.recording import BagError, read_bag
from mbrl_ros.ros.messages import MessageDecodeError, deserialize
from mbrl_ros.tasks.base import Task



@dataclasses.dataclass
class BagTransitions:
    """What a bag holds for learning."""

    data: TransitionBuffer
    episode: np.ndarray  # (N,) episode index of each transition
    rejected: dict[str, int]
    dropped: dict[str, int]
    models: list[tuple[int, bytes]]  # (receive time ns, payload) of each /mbrl/model message
    states: int
    commands: int


def transitions_from_bag(path: str | Path, task: Task, *, controller: str = "effort_controller",
                         state_topic: str = "/mbrl/state", joint_names=(), max_gap_factor: float = 1.5,
                         min_gap_factor: float = 0.5, model_topic: str = "/mbrl/model",
                         extra_topic: str = "/sim_bridge/observation_extra", action_repeat: int = 1) -> BagTransitions:
    """Pair a bag's states and commands as ``model_learner`` does (module docstring); with
    ``action_repeat`` (``learning.action_repeat``) states and commands are that many control periods apart.

    Raises:
        BagError: unreadable bag, or no state/command messages on the expected topics.
    """
    spec = task.spec
    layout = state_layout(task, joint_names)
    pairing = TransitionPairing(seconds_to_ns(spec.control_period * action_repeat), max_gap_factor, min_gap_factor,
                                layout.extra_dim)
    data = TransitionBuffer(spec.obs_dim, spec.act_dim)
    low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
    command_topic = f"/{controller}/commands"
    episodes: list[int] = []
    rejected: dict[str, int] = {}
    models: list[tuple[int, bytes]] = []
    extra = None
    counts = {"states": 0, "commands": 0}

    def store(transitions, episode):
        for obs_k, action, next_obs in transitions:
            data.add(obs_k, np.clip(action, low, high), next_obs)
            episodes.append(episode)

    def reject(what, reason):
        key = f"{what}.{reason}"
        rejected[key] = rejected.get(key, 0) + 1

    topics = {state_topic, command_topic, model_topic, extra_topic}
    for item in read_bag(path, topics):
        try:
            message = deserialize(item.msgtype, item.data)
        except MessageDecodeError:
            reject(item.topic, "malformed")
            continue
        if item.topic == state_topic:
            counts["states"] += 1
            try:
                sample = joint_state_to_sample(message, layout.joint_names, require_velocity=layout.requires_velocity)
            except InvalidMessageError as exc:
                reject("state", exc.reason)
                continue
            if layout.extra_dim and extra is None:
                reject("state", "missing_extra")
                continue
            gaps = pairing.dropped["gap"]
            try:
                done = pairing.add_state(layout.observation(sample.positions, sample.velocities, extra),
                                         sample.stamp_ns)
            except ValueError:
                reject("state", "out_of_order")
                continue
            store(done, gaps)
        elif item.topic == command_topic:
            counts["commands"] += 1
            try:
                action, tag = command_to_action(message, spec.act_dim)
            except InvalidMessageError as exc:
                reject("command", exc.reason)
                continue
            store(pairing.add_command(action, tag), pairing.dropped["gap"])
        elif item.topic == extra_topic:
            values = np.asarray(message.data, dtype=np.float64).reshape(-1)
            if values.size == layout.extra_dim and np.all(np.isfinite(values)):
                extra = values
        elif item.topic == model_topic:
            models.append((item.timestamp_ns, message_bytes(message)))
    if not counts["states"] or not counts["commands"]:
        raise BagError(f"bag {path} has {counts['states']} state message(s) on {state_topic} and "
                       f"{counts['commands']} command(s) on {command_topic}: nothing to learn from "
                       f"(recorded with another controller? pass --controller)")
    return BagTransitions(data=data, episode=np.asarray(episodes, dtype=np.int64), rejected=rejected,
                          dropped=dict(pairing.dropped), models=models, **counts)


def bag_task_names(models: list[tuple[int, bytes]]) -> set[str]:
    """Task names found in the metadata of a bag's recorded models."""
    from mbrl_ros.models.ensemble import EnsembleDynamics, ModelFormatError

    names = set()
    for _, payload in models:
        try:
            task = EnsembleDynamics.from_bytes(payload).extra_metadata.get("task")
        except (ModelFormatError, ValueError, KeyError, TypeError):
            continue
        if task:
            names.add(str(task))
    return names


def write_json(path: Path, values: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(values, indent=2, default=float))
    tmp.replace(path)

"""Planning in its own process: states in through a pipe, plans out through a shared-memory slot.

Why a process: a planning *thread* shares the interpreter lock with the control callbacks of its
node, so every Python step of the optimizer (sampling, top-k, refits) can delay a command. A
:class:`PlanningProcess` runs the optimizer (OptimizePolicy) in a child process; the control side
(ActionFromPolicy) only reads the newest plan from a :class:`PlanSlot`, a seqlock in shared
memory: the reader never blocks and never waits for the writer, it retries the copy if a write
overlapped it. No ROS here: the node is a thin adapter.

Messages to the child, on two pipes so that a large model never holds up a state (and no two
threads ever write one pipe): states ``("state", obs, stamp_ns)`` (newest wins) and
``("episode_end",)``; models ``("model", bytes)`` (an ``EnsembleDynamics`` ``.npz`` payload the
node has already checked; with a critic inside, the child plans with it as the in-process loop
does, :func:`~mbrl_ros.learning.value.plan_with_values`) and ``("stop",)``. Back from the child,
besides the slot: with ``publish_prediction``, each plan's predicted particles ``(P, H, O)`` and
weighted cost terms, on a bounded queue that the child never waits on (a prediction the parent has
not taken yet is replaced, not queued behind), read by a thread of the parent that hands them to a
callback.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing import shared_memory
from typing import Any

import numpy as np

#: Header of the slot: seq, stamp_ns, length, plans, iterations, deadline_hit (int64), then
#: plan_seconds, predicted_return (float64), then the actions (float64, horizon x act_dim).
_INTS, _FLOATS = 6, 2


@dataclasses.dataclass
class SlotPlan:
    """One plan read from a :class:`PlanSlot`."""

    seq: int
    stamp_ns: int
    actions: np.ndarray
    plans: int
    iterations: int
    deadline_hit: bool
    plan_seconds: float
    predicted_return: float


class PlanSlot:
    """The newest plan in shared memory, single writer, any number of non-blocking readers (seqlock).

    Args:
        horizon, act_dim: the largest plan it holds.
        name: attach to an existing slot (the child); None: create one (the parent, who unlinks it).
    """

    def __init__(self, horizon: int, act_dim: int, name: str | None = None):
        self.horizon, self.act_dim = int(horizon), int(act_dim)
        size = 8 * (_INTS + _FLOATS + self.horizon * self.act_dim)
        self._owner = name is None
        self.shm = shared_memory.SharedMemory(name=name, create=self._owner, size=size if self._owner else 0)
        self._ints = np.ndarray(_INTS, np.int64, self.shm.buf, 0)
        self._floats = np.ndarray(_FLOATS, np.float64, self.shm.buf, 8 * _INTS)
        self._actions = np.ndarray((self.horizon, self.act_dim), np.float64, self.shm.buf, 8 * (_INTS + _FLOATS))
        if self._owner:
            self._ints[:] = 0
        else:
            # Python < 3.13 registers an attached block with the resource tracker as if this process
            # owned it, which would unlink it (and warn) when the child exits: the parent owns it.
            from multiprocessing import resource_tracker

            resource_tracker.unregister(self.shm._name, "shared_memory")  # noqa: SLF001 (no public handle)

    @property
    def name(self) -> str:
        return self.shm.name

    def write(self, actions: np.ndarray, stamp_ns: int, *, plans: int, iterations: int, deadline_hit: bool,
              plan_seconds: float, predicted_return: float) -> None:
        actions = np.asarray(actions, np.float64).reshape(-1, self.act_dim)
        length = min(actions.shape[0], self.horizon)
        seq = int(self._ints[0])
        self._ints[0] = seq + 1  # odd: a write is in progress
        self._ints[1:] = (int(stamp_ns), length, int(plans), int(iterations), int(bool(deadline_hit)))
        self._floats[:] = (float(plan_seconds), float(predicted_return))
        self._actions[:length] = actions[:length]
        self._ints[0] = seq + 2

    def read(self, retries: int = 100) -> SlotPlan | None:
        """The newest plan (a copy), or None before the first one. Never blocks on the writer."""
        for _ in range(retries):
            seq = int(self._ints[0])
            if seq == 0:
                return None
            if seq % 2:
                continue
            ints, floats = self._ints.copy(), self._floats.copy()
            actions = self._actions[: max(1, min(int(ints[2]), self.horizon))].copy()
            if int(self._ints[0]) == seq:
                return SlotPlan(seq, int(ints[1]), actions, int(ints[3]), int(ints[4]), bool(ints[5]),
                                float(floats[0]), float(floats[1]))
        return None  # a writer kept overlapping: the caller keeps its previous plan this once

    def close(self) -> None:
        # The numpy views borrow the buffer: drop them before closing it.
        self._ints = self._floats = self._actions = None
        self.shm.close()
        if self._owner:
            self.shm.unlink()


@dataclasses.dataclass(frozen=True)
class PlanningSetup:
    """Everything the child needs to build the optimizer (plain values: it is pickled)."""

    task: str
    task_config: dict
    planner: str
    planner_config: dict
    learning: dict
    seed: int
    deadline_s: float
    period_ns: int
    backend: str
    threads: int
    nice: int = 0
    publish_prediction: bool = False  # send each plan's predicted trajectory and cost terms back


class _ModelPreparer:
    """Prepares models for planning (decode, ONNX export, fused reward graph) on a thread of the child.

    The export takes seconds on a loaded CPU; done in the planning loop, it left the node without
    a fresh plan for that long (its last plan ran out: 525 of 2002 commands were the safe command
    in bench/ros_latency.py). Here the loop keeps planning on the previous model and adopts the
    new one, whole, at its next plan. Only the newest waiting payload is prepared.
    """

    def __init__(self, setup: "PlanningSetup", task: Any, horizon: int):
        self._setup, self._task, self._horizon = setup, task, horizon
        self._cv = threading.Condition()
        self._payload: bytes | None = None
        self._ready: Any = None
        self._error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="model-preparer", daemon=True)
        self._thread.start()

    def submit(self, payload: bytes) -> None:
        with self._cv:
            self._payload = payload  # a newer payload replaces one not yet started
            self._cv.notify()

    def take(self) -> Any:
        """The newest prepared ``(model, values)``, once (None: none new; values None: the payload has
        no critic). Raises what preparing it raised."""
        with self._cv:
            model, self._ready = self._ready, None
            error, self._error = self._error, None
        if error is not None:
            raise error
        return model

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(5.0)

    def _run(self) -> None:
        from mbrl_ros.learning.model_payload import decode_value
        from mbrl_ros.models.onnx_backend import TrainableOnnxEnsemble, for_planning
        from mbrl_ros.models.ensemble import EnsembleDynamics

        while True:
            with self._cv:
                while self._payload is None and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                payload, self._payload = self._payload, None
            try:
                decoded = EnsembleDynamics.from_bytes(payload)
                values = decode_value(payload, decoded, self._task.spec, reward_fn=self._task.reward,
                                      termination_fn=self._task.termination_fn)
                model = for_planning(decoded, self._setup.backend, threads=self._setup.threads,
                                     precision=self._setup.learning.get("planning_precision", "float32"))
                if isinstance(model, TrainableOnnxEnsemble):
                    model.prepare_returns(self._task.reward, self._horizon)
            except Exception as exc:  # noqa: BLE001 - handed to the planning loop, which re-raises it
                with self._cv:
                    self._error = exc
                continue
            with self._cv:
                self._ready = (model, values)


def _worker(setup: PlanningSetup, states, models, slot_name: str, predictions=None) -> None:
    import os

    import torch

    from mbrl_ros.learning.value import plan_with_values
    from mbrl_ros.planning import TrajectoryObjective, make_planner
    from mbrl_ros.tasks import make_task

    if os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0) not in (os.SCHED_OTHER,
                                                                                   getattr(os, "SCHED_BATCH", 3)):
        # Started from a real-time thread: the optimizer must never run above the control path.
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    if setup.nice:
        os.nice(setup.nice)
    torch.set_num_threads(setup.threads)
    task = make_task(setup.task, setup.task_config or None)
    spec = task.spec
    horizon = int(setup.learning.get("horizon", 20))
    objective = TrajectoryObjective(None, task.reward, generator=torch.Generator().manual_seed(setup.seed),
                                    termination_fn=task.termination_fn, termination_reward=spec.termination_reward,
                                    term_costs_fn=task.weighted_cost_terms)  # as the node's own objective
    planner = make_planner(setup.planner, setup.planner_config, action_low=spec.action_low,
                           action_high=spec.action_high, horizon=horizon, objective=objective, seed=setup.seed,
                           nominal_action=spec.nominal_action)
    slot = PlanSlot(horizon, spec.act_dim, name=slot_name)
    preparer = _ModelPreparer(setup, task, horizon)
    low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
    model, last_ns, plans = None, None, 0
    try:
        while True:
            state = None
            if not wait([states, models], 0.1) and model is not None:
                continue
            pending = []
            while models.poll():  # every model (the newest last) and a stop first
                pending.append(models.recv())
            while states.poll():  # drain: keep the newest state, apply every episode end
                pending.append(states.recv())
            for message in pending:
                kind = message[0]
                if kind == "stop":
                    return
                if kind == "state":
                    state = message[1:]
                elif kind == "model":
                    preparer.submit(message[1])
                elif kind == "episode_end":
                    planner.reset()
                    last_ns = None
            try:
                prepared = preparer.take()
            except Exception as exc:  # noqa: BLE001 - one bad model must not end planning on the last good one
                print(f"planning process: a model could not be prepared for planning ({type(exc).__name__}: "
                      f"{exc}); planning goes on with the previous one", file=sys.stderr, flush=True)
                prepared = None
            if prepared is not None:
                model, values = prepared
                if hasattr(model, "adopt_compiled_planning"):  # planning_backend compiled: no re-trace
                    model.adopt_compiled_planning(objective.model)
                objective.model = model
                plan_with_values(objective, planner, values, model, horizon)
            if state is None or model is None:
                continue
            obs, stamp_ns = state
            if last_ns is not None:
                steps = round((stamp_ns - last_ns) / setup.period_ns)
                if steps > horizon:
                    planner.reset()
                elif steps > 0:
                    planner.shift(steps)
            result = planner.plan(obs, time.perf_counter() + setup.deadline_s)
            last_ns = stamp_ns
            actions = result.actions.detach().cpu().numpy().astype(np.float64)
            if not np.all(np.isfinite(actions)):
                planner.reset()
                continue  # the node keeps answering from the previous plan, or the safe command
            plans += 1
            slot.write(np.clip(actions, low, high), stamp_ns, plans=plans, iterations=result.iterations,
                       deadline_hit=result.deadline_hit, plan_seconds=result.seconds,
                       predicted_return=result.predicted_return)
            if predictions is not None and actions.shape[0] == horizon:
                _send_prediction(predictions, objective, obs, np.clip(actions, low, high), stamp_ns)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the parent went away or is stopping
    finally:
        preparer.stop()
        slot.close()


def _send_prediction(predictions, objective, obs: np.ndarray, actions: np.ndarray, stamp_ns: int) -> None:
    """The chosen plan's predicted particles and cost terms to the parent, never waiting for it."""
    import queue

    import torch

    particles, costs = objective.predicted_plan(obs, actions)
    item = (int(stamp_ns), particles.cpu().numpy().astype(np.float32), costs)
    try:
        predictions.put_nowait(item)
    except queue.Full:  # the parent is behind: replace what it has not taken (newest wins)
        try:
            predictions.get_nowait()
        except queue.Empty:
            pass
        try:
            predictions.put_nowait(item)
        except queue.Full:
            pass


class PlanningProcess:
    """The optimizer in a child process (spawned: no state inherited from a threaded parent).

    Args:
        setup: the child's configuration.
        horizon, act_dim: the plan slot's size.
        on_prediction: with ``setup.publish_prediction``, called on a thread of this process as
            ``on_prediction(stamp_ns, particles (P, H, O), cost_terms dict)`` for the child's plans
            (the newest, when this side falls behind). Start it with :meth:`start_predictions`.
    """

    def __init__(self, setup: PlanningSetup, horizon: int, act_dim: int):
        self.slot = PlanSlot(horizon, act_dim)
        self._stopped = False
        context = multiprocessing.get_context("spawn")
        self._states, child_states = _pipe(context)
        self._models, child_models = _pipe(context)
        self._locks = {id(self._states): threading.Lock(), id(self._models): threading.Lock()}
        self._predictions = context.Queue(maxsize=1) if setup.publish_prediction else None
        self._prediction_thread: threading.Thread | None = None
        self.process = context.Process(target=_worker, args=(setup, child_states, child_models, self.slot.name,
                                                             self._predictions),
                                       name="planning", daemon=True)
        self.process.start()
        child_states.close()
        child_models.close()

    def start_predictions(self, on_prediction) -> None:
        """Hand the child's predictions to ``on_prediction`` from a thread of this process."""
        if self._predictions is None:
            raise ValueError("start_predictions needs PlanningSetup(publish_prediction=True)")
        if self._prediction_thread is not None:
            return

        def run() -> None:
            import queue

            while not self._stopped:
                try:
                    item = self._predictions.get(timeout=0.2)
                except queue.Empty:
                    continue
                except (EOFError, OSError, ValueError):  # the queue was closed: stopping
                    return
                on_prediction(*item)

        self._prediction_thread = threading.Thread(target=run, name="planning-predictions", daemon=True)
        self._prediction_thread.start()

    def _send(self, conn, message: Any) -> None:
        try:
            with self._locks[id(conn)]:  # a pickled message is several writes: one writer at a time
                conn.send(message)
        except (BrokenPipeError, OSError) as exc:
            raise RuntimeError(f"the planning process is gone (exit code {self.process.exitcode})") from exc

    def submit_state(self, obs: np.ndarray, stamp_ns: int) -> None:
        self._send(self._states, ("state", np.asarray(obs, np.float64), int(stamp_ns)))

    def submit_model(self, data: bytes) -> None:
        self._send(self._models, ("model", bytes(data)))

    def end_episode(self) -> None:
        self._send(self._states, ("episode_end",))

    def latest(self) -> SlotPlan | None:
        return self.slot.read()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the child (a stop message, then terminate after ``timeout``) and free the slot; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            with self._locks[id(self._models)]:
                self._models.send(("stop",))
        except (BrokenPipeError, OSError):
            pass  # already gone: nothing to tell it
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self._prediction_thread is not None:
            self._prediction_thread.join(1.0)
        if self._predictions is not None:
            self._predictions.close()
            self._predictions.cancel_join_thread()
        self._states.close()
        self._models.close()
        self.slot.close()


def _pipe(context):
    """``(parent end: send, child end: receive)``."""
    receive, send = context.Pipe(duplex=False)
    return send, receive

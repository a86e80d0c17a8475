"""``mbrl-ros`` command line: ``train`` (in-process learning run), ``export-policy``, ``launch`` and ``list``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from mbrl_ros.atomic_file import atomic_write


def _train_resume_point(args: argparse.Namespace, params_files: list[str], overrides: list[str]):
    """``--resume``: the run's parameters (its params.yaml first, then the command line's), checked
    against what the run was, and where it stopped; nothing is written."""
    from mbrl_ros.config import load_ros_params
    from mbrl_ros.learning import run_directory
    from mbrl_ros.learning.run_config import resolve_run_parameters
    from mbrl_ros.tasks import make_task

    out = Path(args.out)
    if args.initial_model:
        raise run_directory.RunDirectoryError("--resume continues the run's own model: drop --initial-model")
    if not (out / run_directory.PARAMS_FILE).is_file():
        raise run_directory.RunDirectoryError(f"{out} has no run to resume (no {run_directory.PARAMS_FILE}); "
                                              "run without --resume to start one there")
    saved = (out / run_directory.PARAMS_FILE).resolve()
    params = resolve_run_parameters(args.task, args.planner, args.model, [saved, *params_files], overrides)
    run_directory.check_resumable(out, load_ros_params(saved), params.values)
    spec = make_task(params.task, params.task_config()).spec
    return params, run_directory.load_resume_point(out, spec.obs_dim, spec.act_dim)


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mbrl_ros.learning import LearningConfig
    from mbrl_ros.learning.loop import run_learning
    from mbrl_ros.learning.run_config import resolve_run_parameters
    from mbrl_ros.learning.run_directory import TrainRunWriter, clear_reports, has_run, resume_state
    from mbrl_ros.config import from_dict, merge, to_dict
    from mbrl_ros.tasks import make_task

    overrides = list(args.param or [])
    if args.episodes is not None:
        overrides.append(f"learning.episodes:={args.episodes}")
    if args.threads is not None:
        overrides.append(f"learning.threads:={args.threads}")
    out = Path(args.out)
    point = None
    if args.resume:  # everything is checked before anything in --out is written
        params, point = _train_resume_point(args, args.params_file or [], overrides)
    else:
        params = resolve_run_parameters(args.task, args.planner, args.model, args.params_file or [], overrides)
    seed = args.seed if args.seed is not None else (point.seed if point is not None and point.seed is not None
                                                    else 0)
    learning = from_dict(LearningConfig, params.section("learning"))
    spec = make_task(params.task, params.task_config()).spec
    initial_model = None
    if args.initial_model:  # checked before anything in --out is written
        from mbrl_ros.learning.initial_model import load_initial_model

        initial_model = load_initial_model(args.initial_model, spec, device=learning.device)
    resume, version = (None, 0) if point is None else resume_state(point, spec, learning.device)
    out.mkdir(parents=True, exist_ok=True)
    from mbrl_ros.learning.archive import LearnerArchive
    from mbrl_ros.learning.report import write_params_yaml

    if point is None and has_run(out):
        # A new run replaces the old one whole: no file of it stays to be mixed in by a later --resume.
        removed = clear_reports(out) + LearnerArchive(out, spec.obs_dim, spec.act_dim).clear()
        print(f"replacing the run in {out} ({', '.join(removed)}); --resume continues a run instead", flush=True)
    write_params_yaml(out, merge(params.values, {"learning": to_dict(learning)}))
    first = point.episodes if point is not None else 0
    if point is not None:
        print(f"resuming {out}: {point.episodes} episode(s) done, {point.obs.shape[0]} transitions, model "
              f"version {version}; running episodes {first}..{learning.episodes - 1}", flush=True)

    episode_length = spec.episode_length
    bars = []  # made at the first step: a bad parameter fails before it, with no 0% bar around the error

    def bar():
        if not bars:
            bars.append(tqdm(total=max(learning.episodes - first, 0) * episode_length, unit="step",
                             disable=args.quiet, desc=f"{params.task}/{params.planner}/{params.model}",
                             dynamic_ncols=True, file=sys.stderr))
        return bars[0]

    def on_episode(record) -> None:
        line = (f"episode {record.episode:3d} [{record.kind:6s}] steps {record.env_steps:6d} "
                f"return {record.episode_return:9.2f} (env {record.env_return:9.2f})  plan p50/p99 {record.plan_ms_median:6.1f}/"
                f"{record.plan_ms_p99:6.1f} ms  train {record.train_seconds:5.1f} s "
                f"({record.train_epochs} ep, holdout mse {record.holdout_mse:.3g})")
        bar().write(line)

    writer = TrainRunWriter(out, spec.obs_dim, spec.act_dim, title=f"{params.task} / {params.planner} / seed {seed}",
                            summary=dict(task=params.task, planner=params.planner, model=params.model, seed=seed,
                                         param_sources=params.sources),
                            model_metadata={"task": params.task, "source": "mbrl-ros train",
                                            "initial_model": args.initial_model or (
                                                resume.model.extra_metadata.get("initial_model")
                                                if resume is not None and resume.model is not None else None)},
                            previous=point.rows if point is not None else (), version=version)
    hooks = {}
    if args.video:  # MP4s of the chosen episodes with the plan drawn in (mbrl_ros.video)
        from mbrl_ros.video import TrainingVideos, parse_episodes

        video_task = make_task(params.task, params.task_config())
        videos = TrainingVideos(video_task, parse_episodes(args.video, learning.episodes), out / "videos",
                                width=args.video_size[0], height=args.video_size[1])
        hooks = dict(task=video_task, on_plan=videos.on_plan, on_transition=videos.on_transition)
        on_episode = (lambda report: lambda record: (videos.on_episode(record), report(record)))(on_episode)
    run = run_learning(params.task, planner=params.planner, model=params.model, seed=seed,
                       learning=learning, task_config=params.task_config(),
                       planner_config=params.section(params.planner), model_config=params.section(params.model),
                       value_config=params.section(learning.value_learner),
                       on_episode=on_episode, on_step=lambda: bar().update(learning.action_repeat),
                       initial_model=initial_model, resume=resume, on_checkpoint=writer.checkpoint, **hooks)
    if args.video:
        print("wrote " + ", ".join(str(p) for p in videos.written))
    if bars:
        bars[0].close()
    if not writer.rows:
        print(f"{out}: no episodes to run (learning.episodes is {learning.episodes})")
        return 0
    actor_path = None
    if run.values is not None:  # the learned actor, in export-policy's ONNX format (no DAgger needed)
        from mbrl_ros.export.onnx_policy import export_policy_onnx

        actor_path = export_policy_onnx(run.values.to_policy_network(), out / "actor.onnx", task_spec=run.task.spec,
                                        metadata={"version": run.values.version, "expert": "sac_mbpo actor"})
    csv_path, png_path = writer.write_report({"actor_onnx": str(actor_path) if actor_path else None})
    returns = [float(r["episode_return"]) for r in writer.rows]
    model_path = writer.model_file
    print(f"final return {returns[-1]:.2f} (best {max(returns):.2f}) after {writer.rows[-1]['env_steps']} steps; "
          f"wrote {csv_path}, {png_path}" + (f", {model_path}" if model_path else ""))
    return 0


def _sim2real_seed(job: tuple) -> dict:
    """One seed of ``mbrl-ros sim2real`` (a module-level function: it runs in worker processes)."""
    import torch

    from mbrl_ros.learning.sim2real import run_sim2real

    task, planner, seed, config, learning, sections = job
    torch.set_num_threads(learning.threads)
    return run_sim2real(task, planner=planner, seed=seed, config=config, learning=learning,
                        task_config=sections["task"], planner_config=sections["planner"],
                        model_config=sections["model"], log=lambda line: print(line, flush=True))


def cmd_sim2real(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from mbrl_ros.config import from_dict, to_dict
    from mbrl_ros.learning import LearningConfig
    from mbrl_ros.learning.run_config import resolve_run_parameters
    from mbrl_ros.learning.sim2real import Sim2RealConfig, write_sim2real_report

    overrides = list(args.param or [])
    for flag in ("sim_episodes", "finetune_episodes", "scratch_episodes", "oracle_episodes"):
        if getattr(args, flag) is not None:
            overrides.append(f"sim2real.{flag}:={getattr(args, flag)}")
    params = resolve_run_parameters(args.task, args.planner, None, args.params_file or [], overrides)
    learning = from_dict(LearningConfig, params.section("learning"))
    config = from_dict(Sim2RealConfig, params.section("sim2real"))
    from mbrl_ros.tasks.randomization import load_profile

    for profile in ((config.stand_in, *([config.randomization] if "randomized" in config.variants else []))):
        load_profile(profile, params.task)  # fail fast, before hours of training
    sections = {"task": params.section(params.task), "planner": params.section(params.planner),
                "model": params.section(params.model)}
    jobs = [(params.task, params.planner, seed, config, learning, sections) for seed in args.seeds]
    if args.jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(args.jobs, len(jobs))) as pool:
            summaries = list(pool.map(_sim2real_seed, jobs))
    else:
        summaries = [_sim2real_seed(job) for job in jobs]
    out = Path(args.out)
    csv_path, png_path = write_sim2real_report(summaries, out, f"{params.task} / {params.planner}: sim to real "
                                                               f"stand-in, seeds {', '.join(map(str, args.seeds))}")
    (out / "sim2real.json").write_text(json.dumps({"config": to_dict(config), "learning": to_dict(learning),
                                                   "seeds": summaries}, indent=2, default=float))
    for s in summaries:
        line = f"seed {s['seed']}: oracle {s['oracle_return']:.1f}, scratch reaches 90% after " \
               f"{s['scratch_episodes_to_target']} episode(s)"
        for variant in config.variants:
            line += (f"; {variant}: zero-shot {s[variant + '_zero_shot_return']:.1f}, fine-tuned reaches 90% after "
                     f"{s[variant + '_finetune_episodes_to_target']}, gap closed {s[variant + '_gap_closed']:.2f}")
        print(line)
    print(f"wrote {csv_path}, {png_path}, {out / 'sim2real.json'}")
    return 0


def _delta_error(model, obs, action, next_obs) -> float:
    """Mean over observation entries of the elites' one-step MSE / the variance of the true change."""
    import numpy as np
    import torch

    with torch.no_grad():
        mean, _ = model.predict(torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(action, dtype=torch.float32))
    pred = mean[model.elites].mean(0).numpy().astype(np.float64)
    var = np.maximum((next_obs - obs).var(0), 1e-12)
    return float(np.mean(((pred - next_obs) ** 2).mean(0) / var))


def cmd_train_from_bag(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from mbrl_ros.config import from_dict
    from mbrl_ros.learning import LearningConfig
    from mbrl_ros.learning.run_config import resolve_run_parameters
    from mbrl_ros.models import MODELS
    from mbrl_ros.models.ensemble import EnsembleDynamics
    from mbrl_ros.recording import BagError
    from mbrl_ros.recording.replay import bag_task_names, transitions_from_bag, write_json
    from mbrl_ros.tasks import make_task

    overrides = list(args.param or [])
    params = resolve_run_parameters(args.task, None, args.model, args.params_file or [], overrides)
    if params.model not in ("pets_ensemble", "deterministic_ensemble"):
        raise BagError(f"train-from-bag learns pets_ensemble or deterministic_ensemble, not {params.model!r}")
    learning = from_dict(LearningConfig, params.section("learning"))
    torch.set_num_threads(learning.threads)
    task = make_task(params.task, params.task_config())
    bag = transitions_from_bag(args.bag, task, controller=args.controller, state_topic=args.state_topic,
                               joint_names=args.joint_names or (), action_repeat=learning.action_repeat)
    recorded_for = bag_task_names(bag.models)
    if recorded_for and params.task not in recorded_for:
        raise BagError(f"bag {args.bag} was recorded for task {', '.join(sorted(recorded_for))}, not {params.task!r}")
    obs, action, next_obs = bag.data.arrays()
    n_episodes = int(bag.episode.max()) + 1 if bag.episode.size else 0
    use = np.ones(obs.shape[0], dtype=bool) if args.episodes is None else bag.episode < args.episodes
    if int(use.sum()) < 10:
        raise BagError(f"bag {args.bag}: only {int(use.sum())} transition(s) to learn from "
                       f"({bag.states} states, {bag.commands} commands, rejected {bag.rejected or 'none'}, "
                       f"dropped {bag.dropped or 'none'}): is it a recording of task {params.task}?")
    print(f"{args.bag}: {obs.shape[0]} transitions in {n_episodes} episode(s) from {bag.states} states and "
          f"{bag.commands} commands (dropped {bag.dropped or 'none'}, rejected {bag.rejected or 'none'}); "
          f"training {params.model} on {int(use.sum())} of them", flush=True)
    model = MODELS.get(params.model)(task.spec, params.section(params.model), device=learning.device, seed=args.seed)
    report = model.fit(obs[use], action[use], next_obs[use], seed=args.seed,
                       max_epochs=learning.max_train_epochs or None)
    holdout = float(np.mean([report.holdout_mse[i] for i in report.elites]))
    summary = {"bag": str(args.bag), "task": params.task, "model": params.model, "transitions": int(obs.shape[0]),
               "episodes_in_bag": n_episodes, "trained_on": int(use.sum()), "episodes_used": args.episodes,
               "dropped": bag.dropped, "rejected": bag.rejected, "epochs": report.epochs,
               "holdout_mse": holdout, "train_seconds": report.seconds}
    held = ~use
    if held.any():
        summary["eval_transitions"] = int(held.sum())
        summary["eval_error_bag_model"] = _delta_error(model, obs[held], action[held], next_obs[held])
        # The learner's newest model trained on no more than these episodes, as recorded in the bag.
        online = [EnsembleDynamics.from_bytes(p) for _, p in bag.models]
        online = [m for m in online if m.extra_metadata.get("episodes", 10 ** 9) <= (args.episodes or n_episodes)]
        if online:
            best = max(online, key=lambda m: m.extra_metadata.get("version", -1))
            summary["online_model_version"] = best.extra_metadata.get("version")
            summary["online_model_episodes"] = best.extra_metadata.get("episodes")
            summary["online_holdout_mse"] = best.extra_metadata.get("metrics", {}).get("holdout_mse")
            summary["eval_error_online_model"] = _delta_error(best, obs[held], action[held], next_obs[held])
            summary["eval_error_ratio"] = summary["eval_error_bag_model"] / summary["eval_error_online_model"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = model.save(out / "model.npz", {"task": params.task, "source": "mbrl-ros train-from-bag",
                                                 "bag": str(args.bag), "transitions": int(use.sum()),
                                                 "episodes": args.episodes or n_episodes,
                                                 "metrics": {"holdout_mse": holdout}})
    write_json(out / "summary.json", summary)
    print(f"trained {report.epochs} epochs in {report.seconds:.1f} s, holdout mse {holdout:.4g}"
          + (f"; held-out episodes: one-step error {summary['eval_error_bag_model']:.4g} (bag model) vs "
             f"{summary['eval_error_online_model']:.4g} (online model v{summary['online_model_version']}), "
             f"ratio {summary['eval_error_ratio']:.3f}" if "eval_error_ratio" in summary else ""))
    print(f"wrote {model_path} and {out / 'summary.json'}")
    return 0


def cmd_export_policy(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from mbrl_ros.export.mpc_distillation import (
        dagger_config,
        distill_to_onnx,
        evaluate_returns,
        evaluation_seeds,
        learning_config,
        load_training_run,
        make_mpc_expert,
    )
    from mbrl_ros.export.onnx_policy import load_policy_onnx
    from mbrl_ros.tasks import make_task

    overrides = list(args.param or [])
    for flag, name in (("iterations", "iterations"), ("epochs", "epochs"), ("hidden_units", "policy.hidden_units"),
                       ("hidden_layers", "policy.hidden_layers"), ("expert_episodes", "expert_episodes"),
                       ("episodes_per_iteration", "episodes_per_iteration")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"distill.{name}:={value}")
    if args.threads is not None:
        overrides.append(f"learning.threads:={args.threads}")
    if args.eval_episodes < 0:
        raise ExportPolicyError(f"--eval-episodes must be >= 0, got {args.eval_episodes}")
    if args.run is None and args.model is None:
        raise ExportPolicyError("give a training run directory (the --out of `mbrl-ros train`), or "
                                "--model FILE --task NAME --out FILE")
    out = Path(args.out) if args.out else (Path(args.run) / "policy.onnx" if args.run else None)
    if out is None:
        raise ExportPolicyError("--out FILE is required with --model (there is no run directory to write to)")
    if out.suffix != ".onnx":
        raise ExportPolicyError(f"--out must name an .onnx file, got {out}")
    run = load_training_run(args.run, model_file=args.model, task=args.task, planner=args.planner,
                            params_files=args.params_file or [], overrides=overrides)
    params = run.params
    learning = learning_config(params)
    torch.set_num_threads(learning.threads)
    config = dagger_config(params)
    task = make_task(params.task, params.task_config())
    deadline = learning.plan_deadline or None
    print(f"distilling {params.planner} on {run.model_file or 'the true simulator (oracle)'} into a "
          f"{config.policy.hidden_layers}x{config.policy.hidden_units} {config.policy.activation} policy for "
          f"{params.task}: {config.expert_episodes} expert roll-out(s), then {config.iterations} DAgger "
          f"iteration(s) of {config.episodes_per_iteration} roll-out(s)", flush=True)

    def on_iteration(it) -> None:
        print(f"  iteration {it.iteration}: beta {it.beta:.3f}, {it.steps} steps ({it.expert_steps} by the expert), "
              f"roll-out return {it.mean_return:.2f}, policy-expert rmse {it.policy_expert_rmse:.3g}, "
              f"{it.dataset_size} labelled states, loss {it.train_loss:.4g}"
              + ("" if np.isnan(it.validation_return) else f", validation return {it.validation_return:.2f}"),
              flush=True)

    try:
        expert = make_mpc_expert(task, run.model, params.planner, params.section(params.planner),
                                 horizon=learning.horizon, seed=args.seed, deadline_s=deadline, label=args.label)
    except ValueError as exc:  # e.g. --label mean with a planner that has no sampling mean
        raise ExportPolicyError(f"planner {params.planner!r}: {exc}") from exc
    export = distill_to_onnx(expert, task, out, config=config, seed=args.seed, on_iteration=on_iteration,
                             precision=args.precision,
                             metadata={"version": args.version, "expert": params.planner, "label": args.label,
                                       "model_file": str(run.model_file) if run.model_file else "oracle"})
    if config.validation_episodes:
        print(f"kept the policy of iteration {export.result.best_iteration} (best validation return)")
    print(f"wrote {export.path} (task {params.task}, input 'observation' (batch, {task.spec.obs_dim}) -> output "
          f"'action' (batch, {task.spec.act_dim}), version {args.version})")
    print(f"parity ONNX Runtime vs torch on 10000 observations: max abs diff {export.parity:.3g} (<= 1e-05)")
    summary = {"onnx_file": str(export.path), "task": params.task, "planner": params.planner,
               "parity_max_abs": export.parity, "history": [dataclasses.asdict(h) for h in export.history]}
    if args.eval_episodes:
        seeds = evaluation_seeds(args.eval_episodes)
        policy = load_policy_onnx(export.path, expected_spec=task.spec)
        returns = evaluate_returns(task, policy, seeds)
        summary.update(evaluation_seeds=seeds, policy_returns=returns)
        print(f"policy returns on {len(seeds)} evaluation episode(s): "
              f"{', '.join(f'{r:.2f}' for r in returns)} (mean {np.mean(returns):.2f})")
        if args.compare_mpc:
            mpc = make_mpc_expert(task, run.model, params.planner, params.section(params.planner),
                                  horizon=learning.horizon, seed=args.seed + 1, deadline_s=deadline)
            mpc_returns = evaluate_returns(task, mpc, seeds, reset=mpc.reset)
            ratio = float(np.mean(returns) / np.mean(mpc_returns)) if np.mean(mpc_returns) else float("nan")
            summary.update(mpc_returns=mpc_returns, ratio=ratio)
            print(f"MPC returns on the same episodes: {', '.join(f'{r:.2f}' for r in mpc_returns)} "
                  f"(mean {np.mean(mpc_returns):.2f}); policy / MPC = {ratio:.3f}")
    summary_path = out.with_suffix(".json")
    atomic_write(summary_path, json.dumps(summary, indent=2))
    print(f"wrote {summary_path}")
    return 0


class ExportPolicyError(ValueError):
    """Bad ``export-policy`` arguments."""


def cmd_launch(args: argparse.Namespace) -> int:
    from mbrl_ros import launcher

    return launcher.main(args.rest)


def registry_listing() -> list[str]:
    """``mbrl-ros list``'s lines: every registry's names and the package's executables.

    README's list is this text (test/test_readme.py checks it), so it cannot go stale.
    """
    from importlib import metadata

    from mbrl_ros.estimation import ESTIMATORS
    from mbrl_ros.models import MODELS
    from mbrl_ros.planning import PLANNERS
    from mbrl_ros.tasks import TASKS

    lines = [f"{title}: {', '.join(registry.names())}" for title, registry in
             (("tasks", TASKS), ("planners", PLANNERS), ("models", MODELS), ("estimators", ESTIMATORS))]
    try:
        scripts = sorted(ep.name for ep in metadata.distribution("mbrl_ros").entry_points
                         if ep.group == "console_scripts" and ep.name != "mbrl-ros")
    except metadata.PackageNotFoundError:
        scripts = []
    lines.append(f"executables: {', '.join(scripts) if scripts else '(not installed: pip install -e .)'}")
    return lines


def cmd_list(_args: argparse.Namespace) -> int:
    print("\n".join(registry_listing()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mbrl-ros", description="Model-based RL for ROS 2.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="run the in-process PETS learning loop on a simulated task")
    train.add_argument("--task", help="registered task (default: cartpole_swingup) or a user task "
                       "'my_pkg.my_module:make_task' (its parameters: task_params.*)")
    train.add_argument("--planner", help="registered planner (default: from the task's config, icem)")
    train.add_argument("--model", help="registered model (default pets_ensemble; 'oracle' = true physics)")
    train.add_argument("--episodes", type=int, help="episodes in total, random seed episodes included")
    train.add_argument("--seed", type=int, help="seed (default 0; with --resume the run's)")
    train.add_argument("--threads", type=int, help="torch threads (default 1)")
    train.add_argument("--out", default="runs/latest", help="run directory (a run already there is replaced "
                       "unless --resume)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out: its model, transitions and episode numbering, up to "
                            "--episodes in total, with its params.yaml under the command line's parameters "
                            "(the planner and budget may change, the task and model may not)")
    train.add_argument("--params-file", action="append", help="ROS 2 params YAML (repeatable)")
    train.add_argument("-p", "--param", action="append", metavar="NAME:=VALUE",
                       help="parameter override, e.g. -p icem.population:=128 (repeatable)")
    train.add_argument("--initial-model", metavar="FILE",
                       help="start from this model.npz and fine-tune it (no random seed episodes)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--video", metavar="EPISODES",
                       help="write <out>/videos/episode_<k>.mp4 of these episodes, plan drawn in (e.g. 0,last)")
    train.add_argument("--video-size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"),
                       help="video frame size in pixels (default 320 240)")
    train.set_defaults(func=cmd_train)
    export = sub.add_parser(
        "export-policy", help="distill the MPC planner on a learned model into an ONNX policy (DAgger in sim)",
        description="Distill the MPC planner, planning through a learned model, into a small MLP policy by "
                    "DAgger in simulation; write it as ONNX (input 'observation', output 'action', task "
                    "metadata), check ONNX Runtime against torch on 10000 observations and print the "
                    "policy's returns. DAgger settings are the distill.* parameters (e.g. "
                    "-p distill.iterations:=6).")
    export.add_argument("run", nargs="?", help="training run directory of `mbrl-ros train` (params.yaml, model.npz)")
    export.add_argument("--out", help="ONNX file to write (default RUN/policy.onnx); a .json summary goes beside it")
    export.add_argument("--model", help="model .npz (default RUN/model.npz)")
    export.add_argument("--task", help="task (default: the run's)")
    export.add_argument("--planner", help="expert planner (default: the run's)")
    export.add_argument("--iterations", type=int, help="DAgger iterations (distill.iterations)")
    export.add_argument("--expert-episodes", type=int, help="pure-expert roll-outs first (distill.expert_episodes)")
    export.add_argument("--episodes-per-iteration", type=int, help="roll-outs per iteration")
    export.add_argument("--epochs", type=int, help="training epochs per fit (distill.epochs)")
    export.add_argument("--hidden-layers", type=int, help="policy hidden layers (distill.policy.hidden_layers)")
    export.add_argument("--hidden-units", type=int, help="policy hidden units (distill.policy.hidden_units)")
    export.add_argument("--label", choices=("first", "mean"), default="first",
                        help="expert label: the plan's first action, or the planner's sampling mean")
    export.add_argument("--precision", choices=("float64", "float32"), default="float64",
                        help="arithmetic and input/output type of the ONNX graph: float64 (the network to "
                             "float64 rounding) or float32 (about half the inference time; rounding moves the "
                             "actions of steep policies by ~1e-5, over the parity tolerance)")
    export.add_argument("--eval-episodes", type=int, default=3, help="evaluation episodes of the ONNX policy")
    export.add_argument("--compare-mpc", action="store_true", help="also run the MPC on the evaluation episodes")
    export.add_argument("--version", type=int, default=1, help="policy version in the file's metadata")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--threads", type=int, help="torch threads (default: the run's learning.threads)")
    export.add_argument("--params-file", action="append", help="ROS 2 params YAML (repeatable)")
    export.add_argument("-p", "--param", action="append", metavar="NAME:=VALUE",
                        help="parameter override, e.g. -p distill.iterations:=6 (repeatable)")
    export.set_defaults(func=cmd_export_policy)
    s2r = sub.add_parser("sim2real", help="train in (randomized) sim, run zero-shot on the real stand-in, fine-tune; "
                                          "vs learning on the stand-in from scratch",
                         description="Per seed: the oracle on the stand-in; PETS from scratch on the stand-in; "
                                     "for each sim variant (nominal, randomized) PETS in sim, then its model on the "
                                     "stand-in zero-shot and fine-tuned online. Writes sim2real.csv, sim2real.png "
                                     "and sim2real.json (returns, episodes to 90% of the oracle, model errors on real "
                                     "data, gap closed). Budgets: sim2real.* parameters.")
    s2r.add_argument("--task", help="task with a stand-in profile (default: cartpole_swingup)")
    s2r.add_argument("--planner", help="registered planner (default: the task's)")
    s2r.add_argument("--seeds", type=int, nargs="+", default=[0])
    s2r.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    s2r.add_argument("--sim-episodes", type=int, help="PETS episodes in sim per variant (sim2real.sim_episodes)")
    s2r.add_argument("--finetune-episodes", type=int, help="episodes on the stand-in from the sim model")
    s2r.add_argument("--scratch-episodes", type=int, help="episodes of the from-scratch baseline")
    s2r.add_argument("--oracle-episodes", type=int, help="oracle episodes on the stand-in")
    s2r.add_argument("--out", default="runs/sim2real", help="output directory")
    s2r.add_argument("--params-file", action="append", help="ROS 2 params YAML (repeatable)")
    s2r.add_argument("-p", "--param", action="append", metavar="NAME:=VALUE", help="parameter override (repeatable)")
    s2r.set_defaults(func=cmd_sim2real)
    tfb = sub.add_parser("train-from-bag", help="learn a dynamics model offline from a recorded rosbag2 bag",
                         description="Pair the bag's states and commands exactly as model_learner does and train "
                                     "the task's model on them; writes DIR/model.npz (usable as initial_model) and "
                                     "DIR/summary.json. With --episodes N the later episodes are held out and the "
                                     "newest online model in the bag trained on <= N episodes is scored on them too.")
    tfb.add_argument("bag", help="bag folder (with metadata.yaml)")
    tfb.add_argument("--task", required=True, help="the task the bag was recorded on")
    tfb.add_argument("--out", required=True, help="output directory")
    tfb.add_argument("--model", help="pets_ensemble (default) or deterministic_ensemble")
    tfb.add_argument("--episodes", type=int, help="train on the first N episodes only (the rest: evaluation)")
    tfb.add_argument("--controller", default="effort_controller", help="commands are /<controller>/commands")
    tfb.add_argument("--state-topic", default="/mbrl/state", help="sensor_msgs/JointState states")
    tfb.add_argument("--joint-names", nargs="+", help="ROS joint names in observation order (default: the MJCF's)")
    tfb.add_argument("--seed", type=int, default=0)
    tfb.add_argument("--params-file", action="append", help="ROS 2 params YAML (repeatable)")
    tfb.add_argument("-p", "--param", action="append", metavar="NAME:=VALUE", help="parameter override (repeatable)")
    tfb.set_defaults(func=cmd_train_from_bag)
    launch = sub.add_parser("launch", add_help=False,
                            help="run a YAML launch file without ROS 2: mbrl-ros launch FILE [name:=value ...]")
    launch.add_argument("rest", nargs=argparse.REMAINDER)
    launch.set_defaults(func=cmd_launch)
    lst = sub.add_parser("list", help="list registered tasks, planners, models, estimators and the executables")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["launch"]:
        # The launch arguments (and its own --help/-h, --print, --show-args) go to the launcher as they are.
        from mbrl_ros import launcher

        return launcher.main(argv[1:])
    args = build_parser().parse_args(argv)
    from mbrl_ros.config import ConfigError
    from mbrl_ros.registry import UnknownComponentError

    errors: tuple[type[Exception], ...] = (ConfigError, UnknownComponentError, ExportPolicyError)
    if args.func is cmd_train_from_bag:
        from mbrl_ros.nodes.joint_layout import JointLayoutError
        from mbrl_ros.recording import BagError

        errors += (BagError, JointLayoutError)
    if args.func is cmd_export_policy:
        from mbrl_ros.export.mpc_distillation import ParityError, TrainingRunError
        from mbrl_ros.export.onnx_policy import PolicyFormatError

        errors += (TrainingRunError, ParityError, PolicyFormatError)
    try:
        return args.func(args)
    except errors as exc:
        print(f"mbrl-ros: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``mbrl-ros train --video``: MP4s of chosen episodes rendered offscreen, the plan drawn in."""
import imageio.v2 as imageio
import numpy as np
import pytest

from mbrl_ros.cli import main
from mbrl_ros.video import VideoError, parse_episodes

STEPS = 12
TINY = ["-p", "learning.horizon:=10", "-p", "icem.population:=16", "-p", "icem.min_population:=8",
        "-p", "pets_ensemble.hidden_units:=16", "-p", "pets_ensemble.max_epochs:=3",
        "-p", "pets_ensemble.ensemble_size:=2", "-p", "pets_ensemble.num_elites:=2",
        "-p", "pets_ensemble.num_particles:=2", "-p", "pets_ensemble.hidden_layers:=1",
        "-p", f"cartpole_swingup.episode_length:={STEPS}"]


def test_parse_episodes():
    assert parse_episodes("0,last", 5) == [0, 4]
    assert parse_episodes("3, 1,-1,3", 5) == [1, 3, 4]
    with pytest.raises(VideoError, match="outside 0..4"):
        parse_episodes("5", 5)
    with pytest.raises(VideoError, match="not an episode index"):
        parse_episodes("first", 5)


def _frames(path):
    with imageio.get_reader(str(path)) as reader:
        return np.stack([np.asarray(f) for f in reader])


def test_train_writes_an_mp4_per_chosen_episode_with_the_plan_drawn_in(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--task", "cartpole_swingup", "--episodes", "2", "--out", str(out), "--quiet",
                 "--video", "0,last", "--video-size", "128", "96", *TINY]) == 0
    random_episode, mpc_episode = _frames(out / "videos" / "episode_0.mp4"), _frames(out / "videos" / "episode_1.mp4")
    for frames in (random_episode, mpc_episode):
        assert frames.shape == (STEPS, 96, 128, 3)         # one frame per control step, at the asked size
        assert frames.max() > 100 and frames.std() > 2     # a scene, not a blank frame
        change = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        assert (change > 0).sum() >= STEPS // 2, change    # the cartpole moves
    # The plan is drawn magenta (a colour no MJCF of ours uses): in most frames of the MPC episode
    # (a plan that barely moves the tip is under a pixel long at this size), in no frame of the
    # random seed episode (it has no plan).
    def magenta(frames):
        f = frames.astype(np.int16)
        return ((np.minimum(f[..., 0], f[..., 2]) - f[..., 1]) > 50).sum(axis=(1, 2))
    print("magenta pixels per frame: mpc", magenta(mpc_episode), "random", magenta(random_episode))
    assert (magenta(mpc_episode) > 0).mean() >= 0.75, magenta(mpc_episode)
    assert (magenta(random_episode) == 0).all(), magenta(random_episode)

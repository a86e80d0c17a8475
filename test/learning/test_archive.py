"""The learner's on-disk archive: round trips, refusals, and a torn write that never shows."""
import numpy as np
import pytest

from mbrl_ros.learning.archive import ArchiveFormatError, LearnerArchive
from mbrl_ros.learning.loop import TransitionBuffer


def test_transitions_model_and_training_log_round_trip(tmp_path):
    archive = LearnerArchive(tmp_path / "learner", obs_dim=3, act_dim=1)
    assert archive.load_transitions() is None and archive.load_model_bytes() is None
    rng = np.random.default_rng(0)
    obs, action, next_obs = rng.normal(size=(7, 3)), rng.normal(size=(7, 1)), rng.normal(size=(7, 3))
    archive.save_transitions(obs, action, next_obs, episodes=2)
    archive.save_model(b"model bytes")
    archive.append_training_row({"version": 1, "holdout_mse": 0.5})
    archive.append_training_row({"version": 2, "holdout_mse": 0.25})

    again = LearnerArchive(tmp_path / "learner", obs_dim=3, act_dim=1)  # a restarted learner
    got_obs, got_action, got_next, episodes = again.load_transitions()
    np.testing.assert_array_equal(got_obs, obs)
    np.testing.assert_array_equal(got_action, action)
    np.testing.assert_array_equal(got_next, next_obs)
    assert episodes == 2 and again.load_model_bytes() == b"model bytes"
    assert [row["version"] for row in again.training_rows] == ["1", "2"]
    buffer = TransitionBuffer(3, 1, capacity=2)
    buffer.extend(got_obs, got_action, got_next)
    np.testing.assert_array_equal(buffer.arrays()[0], obs)


def test_refuses_another_tasks_sizes_and_garbage(tmp_path):
    LearnerArchive(tmp_path, 3, 1).save_transitions(np.zeros((4, 3)), np.zeros((4, 1)), np.zeros((4, 3)), 0)
    with pytest.raises(ArchiveFormatError, match="another data_dir"):
        LearnerArchive(tmp_path, 4, 1).load_transitions()
    (tmp_path / "transitions.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(ArchiveFormatError, match="not a transitions archive"):
        LearnerArchive(tmp_path, 3, 1).load_transitions()

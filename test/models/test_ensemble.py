"""Ensemble dynamics: known-answer learning, normalization, propagation, persistence."""
import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics, ModelFormatError
from mbrl_ros.models.normalizer import Normalizer
from mbrl_ros.models.training import TrainingCancelled

A = np.array([[1.0, 0.05], [0.0, 0.98]])
B = np.array([[0.0], [0.05]])

SMALL = dict(ensemble_size=3, num_elites=3, hidden_layers=2, hidden_units=64, num_particles=3,
             max_epochs=150, patience=15)


def linear_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    u = rng.uniform(-1, 1, size=(n, 1))
    return x, u, x @ A.T + u @ B.T


@pytest.mark.parametrize("probabilistic", [True, False])
def test_learns_known_linear_dynamics(probabilistic):
    x, u, xn = linear_data(1500)
    model = EnsembleDynamics(2, 1, EnsembleConfig(**SMALL), probabilistic=probabilistic, seed=1)
    report = model.fit(x, u, xn, seed=0)
    assert report.num_holdout == 150 and len(report.elites) == 3
    xt, ut, xnt = linear_data(200, seed=7)
    mean, var = model.predict(torch.tensor(xt, dtype=torch.float32), torch.tensor(ut, dtype=torch.float32))
    err = np.abs(mean.numpy() - xnt[None]).max()
    # Delta targets are O(0.05); a max error of 5e-3 is 10x below the signal.
    assert err < 5e-3, err
    if probabilistic:
        assert float(var.max()) < 1e-3  # noise-free data -> small predicted variance
    else:
        assert float(var.abs().max()) == 0.0


def test_constant_dimensions_do_not_break_training():
    x, u, xn = linear_data(400)
    x3 = np.concatenate([x, np.full((400, 1), 2.5)], 1)
    xn3 = np.concatenate([xn, np.full((400, 1), 2.5)], 1)
    model = EnsembleDynamics(3, 1, EnsembleConfig(**{**SMALL, "max_epochs": 20}))
    model.fit(x3, u, xn3)
    assert torch.isfinite(model.input_norm.std).all() and torch.isfinite(model.target_norm.std).all()
    mean, _ = model.predict(torch.tensor(x3[:10], dtype=torch.float32), torch.tensor(u[:10], dtype=torch.float32))
    assert torch.isfinite(mean).all()
    assert np.allclose(mean[..., 2].numpy(), 2.5, atol=1e-4)  # the constant stays constant


def test_normalizer_known_values():
    norm = Normalizer(2)
    norm.fit(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    assert torch.allclose(norm.mean, torch.tensor([2.0, 5.0]))
    assert torch.allclose(norm.std, torch.tensor([1.0, 1.0]))  # constant dim normalizes with std 1
    assert torch.allclose(norm.scale, torch.tensor([1.0, 0.0]))  # ... and denormalizes to the constant
    assert torch.allclose(norm.denormalize(norm.normalize(torch.tensor([[7.0, -1.0]]))), torch.tensor([[7.0, 5.0]]))


def test_angle_inputs_are_encoded_as_sin_cos():
    model = EnsembleDynamics(3, 1, EnsembleConfig(**SMALL), angle_indices=(1,))
    x = model.model_inputs(torch.tensor([[0.5, np.pi / 2, -1.0]]), torch.tensor([[0.3]]))
    assert model.input_dim == 5
    assert torch.allclose(x, torch.tensor([[0.5, -1.0, 1.0, 0.0, 0.3]]), atol=1e-6)


@pytest.mark.parametrize("propagation", ["ts1", "ts_inf", "expectation"])
def test_rollout_matches_repeated_predict(propagation):
    x, u, xn = linear_data(600)
    cfg = EnsembleConfig(**{**SMALL, "max_epochs": 30, "propagation": propagation})
    model = EnsembleDynamics(2, 1, cfg, probabilistic=False)
    model.fit(x, u, xn)
    obs = torch.tensor([0.3, -0.2])
    actions = torch.rand(4, 6, 1) * 2 - 1
    traj = model.rollout(obs, actions)
    assert traj.shape == (4, model.num_particles, 6, 2)
    # With a deterministic ensemble every particle equals the rollout of its own member.
    state = obs.expand(4, 2)
    per_member = [state.clone() for _ in range(3)]
    for h in range(6):
        per_member = [model.predict(s, actions[:, h])[0][e] for e, s in enumerate(per_member)]
    if propagation == "ts_inf":
        # Particle p follows member p for the whole horizon (k = 1 particle per member).
        assert torch.allclose(traj[:, :, -1].permute(1, 0, 2), torch.stack(per_member), atol=1e-4)
    elif propagation == "expectation":
        state = obs.expand(4, 2)
        for h in range(6):
            state = model.predict(state, actions[:, h])[0].mean(0)
            assert torch.allclose(traj[:, 0, h], state, atol=1e-4)
    else:  # ts1 mixes members: trajectories stay within the members' spread
        assert torch.isfinite(traj).all()


def test_save_load_round_trip_without_pickle(tmp_path):
    x, u, xn = linear_data(300)
    model = EnsembleDynamics(2, 1, EnsembleConfig(**{**SMALL, "max_epochs": 5}), angle_indices=(0,))
    model.fit(x, u, xn)
    path = model.save(tmp_path / "m.npz")
    loaded = EnsembleDynamics.load(path)
    xt = torch.tensor(x[:5], dtype=torch.float32)
    ut = torch.tensor(u[:5], dtype=torch.float32)
    assert torch.equal(loaded.predict(xt, ut)[0], model.predict(xt, ut)[0])
    assert loaded.angle_indices == (0,) and torch.equal(loaded.elites, model.elites)


def test_load_rejects_garbage_and_pickles(tmp_path):
    with pytest.raises(ModelFormatError):
        EnsembleDynamics.from_bytes(b"not a model")
    import io
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFormatError):
        EnsembleDynamics.from_bytes(buffer.getvalue())


def test_config_validation_messages():
    with pytest.raises(ValueError, match="num_elites"):
        EnsembleDynamics(2, 1, EnsembleConfig(ensemble_size=3, num_elites=4))
    with pytest.raises(ValueError, match="multiple"):
        EnsembleDynamics(2, 1, EnsembleConfig(ensemble_size=5, num_elites=5, num_particles=7))
    from mbrl_ros.config import from_dict
    with pytest.raises(ConfigError, match="hidden_unitz"):
        from_dict(EnsembleConfig, {"hidden_unitz": 3})
    with pytest.raises(ConfigError, match="propagation"):
        from_dict(EnsembleConfig, {"propagation": "magic"})


def test_untrained_model_refuses_to_plan():
    model = EnsembleDynamics(2, 1, EnsembleConfig(**SMALL))
    with pytest.raises(RuntimeError, match="trained"):
        model.rollout(torch.zeros(2), torch.zeros(1, 3, 1))


def test_fit_drops_non_finite_rows():
    x, u, xn = linear_data(200)
    x[5, 0] = np.nan
    xn[7, 1] = np.inf
    model = EnsembleDynamics(2, 1, EnsembleConfig(**{**SMALL, "max_epochs": 3}))
    report = model.fit(x, u, xn)
    assert report.num_train + report.num_holdout == 198
    assert all(np.isfinite(report.holdout_mse))


def test_cancelled_fit_leaves_the_model_as_before():
    x, u, xn = linear_data(400)
    model = EnsembleDynamics(2, 1, EnsembleConfig(**{**SMALL, "max_epochs": 3}), seed=1)
    model.fit(x, u, xn, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    xt, ut = (torch.tensor(a[:20], dtype=torch.float32) for a in linear_data(20, seed=7)[:2])
    predicted = model.predict(xt, ut)[0]
    planned = model.rollout(xt[0], ut[:4, None].expand(4, 3, 1), torch.Generator().manual_seed(0))
    calls = []

    def stop_at_fifth_batch():
        calls.append(1)
        return len(calls) == 5

    # Other data (new normalizers) and several mini-batches per epoch: the call changes
    # everything before it is stopped in its second epoch.
    x2, u2, xn2 = linear_data(600, seed=3)
    with pytest.raises(TrainingCancelled):
        model.fit(3.0 * x2, u2, 3.0 * xn2, seed=1, max_epochs=50, should_stop=stop_at_fifth_batch)
    assert len(calls) == 5
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert [k for k in before if not torch.equal(after[k], before[k])] == []
    assert model.trained and not model.training
    assert torch.equal(model.predict(xt, ut)[0], predicted)
    replanned = model.rollout(xt[0], ut[:4, None].expand(4, 3, 1), torch.Generator().manual_seed(0))
    assert torch.equal(replanned, planned)

    untrained = EnsembleDynamics(2, 1, EnsembleConfig(**SMALL))
    with pytest.raises(TrainingCancelled):
        untrained.fit(x, u, xn, should_stop=lambda: True)
    assert not untrained.trained
    assert torch.equal(untrained.input_norm.mean, torch.zeros(untrained.input_dim))  # normalizers not refitted

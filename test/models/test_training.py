"""EnsembleTrainer: the training loop apart from the model, bit for bit what EnsembleDynamics.fit does."""
import dataclasses

import numpy as np
import pytest
import torch

from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.models.training import EnsembleTrainer

CONFIG = EnsembleConfig(ensemble_size=3, num_elites=2, num_particles=4, hidden_layers=2, hidden_units=16,
                        max_epochs=20, patience=3, batch_size=64)


def transitions(n=240, seed=0):
    """Smooth nonlinear 4-D dynamics with 2 actions, one non-finite row (dropped by fit)."""
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((n, 4)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    nxt = obs + 0.1 * np.tanh(obs[:, [1, 2, 3, 0]]) + 0.05 * act[:, [0, 1, 0, 1]]
    nxt[5, 1] = np.nan
    return obs, act, nxt


def fresh(probabilistic):
    return EnsembleDynamics(4, 2, CONFIG, angle_indices=(1,), probabilistic=probabilistic, seed=7)


@pytest.mark.parametrize("probabilistic", [True, False])
def test_trainer_gives_bit_identical_weights_to_the_model_fit_entry_point(probabilistic):
    obs, act, nxt = transitions()
    via_model, via_trainer = fresh(probabilistic), fresh(probabilistic)
    reports = []
    for model, fit in ((via_model, via_model.fit), (via_trainer, EnsembleTrainer(via_trainer).fit)):
        first = fit(obs, act, nxt, seed=3)
        second = fit(obs[:120], act[:120], nxt[:120], seed=4, refit_normalizers=False)  # continues training
        reports.append([dataclasses.replace(r, seconds=0.0) for r in (first, second)])
    assert reports[0] == reports[1]
    assert reports[0][0].epochs > 1 and reports[0][0].num_holdout == 24  # it trained, on a holdout split
    a, b = via_model.state_dict(), via_trainer.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert via_model.trained and via_trainer.trained
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    actions = torch.rand(3, 5, 2, generator=gen()) * 2 - 1
    assert torch.equal(via_model.rollout(torch.zeros(4), actions, gen()),
                       via_trainer.rollout(torch.zeros(4), actions, gen()))


def test_trainer_reads_training_fields_from_its_config_and_leaves_the_model_config_alone():
    obs, act, nxt = transitions()
    model = fresh(True)
    short = dataclasses.replace(CONFIG, max_epochs=2, patience=100, holdout_fraction=0.25)
    report = EnsembleTrainer(model, short).fit(obs, act, nxt, seed=3)
    assert report.epochs == 2 and report.num_holdout == 60  # 239 finite rows, a quarter held out
    assert len(report.elites) == CONFIG.num_elites  # member and elite counts come from the model
    assert model.config is CONFIG and CONFIG.max_epochs == 20

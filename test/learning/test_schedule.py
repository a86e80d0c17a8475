"""The one retraining rule of the in-process loop and model_learner (known answers)."""
from mbrl_ros.learning.schedule import RetrainSchedule


def test_after_episode_follows_pets_seed_then_every_episode_but_the_last():
    schedule = RetrainSchedule(episodes=5, seed_episodes=2, min_transitions=10)
    assert [schedule.after_episode(done, 100) for done in range(1, 6)] == [False, True, True, True, False]
    assert not schedule.after_episode(3, 9)  # too little data


def test_after_transitions_counts_from_the_last_retraining():
    schedule = RetrainSchedule(episodes=1, seed_episodes=0, every_transitions=50, min_transitions=60)
    assert not schedule.after_transitions(50, 0)    # enough new ones, too few in all
    assert schedule.after_transitions(60, 0)
    assert not schedule.after_transitions(100, 60)
    assert schedule.after_transitions(110, 60)
    assert not RetrainSchedule(episodes=1, seed_episodes=0).after_transitions(10 ** 6, 0)  # off


def test_loop_and_node_retrain_after_the_same_episodes():
    """run_learning's records show training exactly where the schedule says (no retrain after the last)."""
    from mbrl_ros.learning import run_learning

    run = run_learning("pendulum_swingup", planner="random_shooting", seed=0,
                       learning={"episodes": 3, "seed_episodes": 1, "horizon": 3, "max_train_epochs": 1},
                       task_config={"episode_length": 10}, planner_config={"population": 8},
                       model_config={"hidden_units": 8, "ensemble_size": 2, "num_elites": 2, "num_particles": 2})
    schedule = RetrainSchedule(episodes=3, seed_episodes=1)
    assert [r.train_epochs > 0 for r in run.records] == [schedule.after_episode(e + 1, 1) for e in range(3)]


def test_a_carried_over_model_is_refined_after_every_episode():
    schedule = RetrainSchedule(episodes=3, seed_episodes=2, carried=True)
    assert schedule.first_episode == 1
    assert [schedule.after_episode(done, 100) for done in (1, 2, 3)] == [True, True, False]

"""The first-hour CLI: --help on every verb, a correct usage for bare `mbrl-ros launch`, wrong names
answered with the valid ones, launch arguments described from the registries."""
from __future__ import annotations

import pytest

from mbrl_ros import cli
from mbrl_ros.planning import PLANNERS
from mbrl_ros.tasks import TASKS


@pytest.mark.parametrize("argv", [["launch", "--help"], ["launch", "-h"], ["train", "--help"], ["list", "--help"],
                                  ["export-policy", "--help"], ["sim2real", "--help"], ["--help"]])
def test_every_verb_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    assert "usage: mbrl-ros" in capsys.readouterr().out


def test_bare_launch_names_the_launch_files(capsys):
    assert cli.main(["launch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mbrl-ros launch FILE [NAME:=VALUE ...]")
    assert "sim.launch.yaml" in err and "px4.launch.yaml" in err and "NAME:=VALUE" not in err.splitlines()[1]


@pytest.mark.parametrize("argument, valid", [("task:=cartpol_swingup", TASKS.names()),
                                             ("planner:=icm", PLANNERS.names())])
def test_a_misspelt_task_or_planner_lists_the_registered_names(argument, valid, capsys):
    assert cli.main(["launch", "sim.launch.yaml", argument, "--print"]) == 2
    err = capsys.readouterr().err
    assert "is not registered" in err and all(name in err for name in valid), err


def test_a_misspelt_sensor_profile_lists_the_profiles(capsys):
    assert cli.main(["launch", "sim.launch.yaml", "sensors:=encoder", "--print"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "encoders, ideal" in err, err


def test_a_misspelt_launch_file_lists_the_launch_files(capsys):
    assert cli.main(["launch", "simm.launch.yaml"]) == 2
    assert "sim.launch.yaml" in capsys.readouterr().err


def test_task_and_planner_descriptions_come_from_the_registries(capsys):
    assert cli.main(["launch", "sim.launch.yaml", "--show-args"]) == 0
    out = capsys.readouterr().out
    assert f"Registered: {', '.join(TASKS.names())}" in out
    assert f"Registered: {', '.join(PLANNERS.names())}, policy" in out


def test_quadrotor_returns_are_explained_in_show_args(capsys):
    assert cli.main(["launch", "px4.launch.yaml", "--show-args"]) == 0
    out = capsys.readouterr().out
    assert "|p - target|^2 (m^2)" in out and "-250 for a steady 1 m offset" in out


def test_a_parameter_error_draws_no_progress_bar(tmp_path, capsys):
    assert cli.main(["train", "-p", "icem.populaton:=3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "populaton" in err and "valid: " in err and "0%" not in err and "step/s" not in err, err

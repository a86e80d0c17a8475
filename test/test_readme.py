"""README's two commands stay true: CI runs exactly README's test command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_opens_with_install_and_main_job_then_tests():
    commands = readme_commands()
    install, tests = commands[0], commands[1]
    assert "pip install -c constraints.txt" in install and "mbrl-ros launch sim.launch.yaml" in install
    assert "pytest" in tests


def test_ci_runs_readme_test_command_verbatim():
    tests = readme_commands()[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_constraints_pin_cpu_torch():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()


def test_readme_lists_what_the_registries_hold():
    """README's `mbrl-ros list` block is that command's output (registries + console_scripts)."""
    from mbrl_ros.cli import registry_listing

    block = re.search(r"```bash\nmbrl-ros list\n((?:# .*\n)+)```", (ROOT / "README.md").read_text())
    assert block, "README has no ```bash mbrl-ros list``` block"
    shown = [line[2:] for line in block.group(1).splitlines()]
    assert shown == registry_listing(), ("README's `mbrl-ros list` block is stale: paste the output of "
                                         "`mbrl-ros list` (each line prefixed with '# ')")
    assert any(line.startswith("executables: ") and "mpc_planner" in line for line in shown)

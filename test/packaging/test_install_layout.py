"""Package data (MJCF, YAML, launch) is found after a pip install and in a colcon-style prefix."""
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, timeout=300, capture_output=True)
    return next(out.glob("mbrl_ros-*.whl"))


def test_wheel_carries_ament_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n}
    for required in ["share/ament_index/resource_index/packages/mbrl_ros", "share/mbrl_ros/package.xml",
                     "share/mbrl_ros/sim/cartpole.xml", "share/mbrl_ros/sim/pendulum.xml",
                     "share/mbrl_ros/config/tasks/cartpole_swingup.yaml", "share/mbrl_ros/config/planners/icem.yaml"]:
        assert required in data, f"{required} missing from the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mbrl-ros = mbrl_ros.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_prefix_finds_its_share_dir(wheel, tmp_path):
    """Like a colcon install: <prefix>/lib/pythonX.Y/site-packages + <prefix>/share/mbrl_ros.

    --ignore-installed keeps pip from uninstalling the editable install of the test environment.
    """
    prefix = tmp_path / "install"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--ignore-installed", "--prefix", str(prefix), str(wheel)],
                   check=True, timeout=300, capture_output=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))
    env = {k: v for k, v in os.environ.items() if k not in ("MBRL_ROS_SHARE", "AMENT_PREFIX_PATH")}
    script = ("import mbrl_ros.package_data as p; print(p.__file__); print(p.share_dir()); "
              "print(p.share_path('sim', 'cartpole.xml'))")
    # The checkout must not shadow the installed copy: run from tmp_path with the site dir first.
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(purelib)!r}); " + script],
                         env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    module_file, share, cartpole = out.stdout.split()
    assert module_file.startswith(str(prefix)), "must import the installed copy, not the checkout"
    assert Path(share) == prefix / "share" / "mbrl_ros"
    assert Path(cartpole).is_file()

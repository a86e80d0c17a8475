"""``python -m mbrl_ros.launcher FILE [NAME:=VALUE ...]``: same as ``mbrl-ros launch``."""
import sys

from mbrl_ros.launcher import main

if __name__ == "__main__":
    sys.exit(main())

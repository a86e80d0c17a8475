"""The YAML launcher's modules import each other one way: entities <- substitutions <- interpreter."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mbrl_ros.launcher
from mbrl_ros.launcher import entities, interpreter, substitutions, yaml_launch

LAUNCHER = "mbrl_ros.launcher"
LAYERS = ("entities", "substitutions", "interpreter")


def imported_launcher_modules(source: str) -> set[str]:
    """Modules of ``mbrl_ros.launcher`` that ``source`` (a module of it) imports, function-local ones too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the launcher package
                base = ".".join([LAUNCHER, *([base] if base else [])])
            # `from mbrl_ros.launcher import interpreter` names a submodule in `names`
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith(LAUNCHER + "."):
                found.add(target[len(LAUNCHER) + 1:].split(".")[0])
    return found


def launcher_imports(module_name: str) -> set[str]:
    path = Path(mbrl_ros.launcher.__file__).parent / f"{module_name}.py"
    return imported_launcher_modules(path.read_text(encoding="utf-8"))


def test_the_import_check_sees_every_import_form():
    source = """
import os
import mbrl_ros.launcher.entities
from mbrl_ros.launcher.substitutions import parse_substitutions
from mbrl_ros import launcher
def late():
    from mbrl_ros.launcher import interpreter
    from .processes import ProcessRunner
    from . import process_tree
"""
    assert imported_launcher_modules(source) == {"entities", "substitutions", "interpreter", "processes",
                                                 "process_tree"}
    assert launcher_imports("yaml_launch") == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_layers_below(layer):
    below = set(LAYERS[:LAYERS.index(layer)])
    imported = launcher_imports(layer)
    assert imported == below, f"{layer} imports {sorted(imported)}; expected exactly {sorted(below)}"


#: Where each public name of the facade is defined.
HOMES = {
    entities: ("PACKAGE", "ExecutableNotFoundError", "LaunchArgument", "LaunchArgumentError", "LaunchError",
               "LaunchFileError", "LaunchPlan", "ProcessSpec", "SubstitutionError",
               "UnsupportedLaunchConstructError", "prefix_namespace"),
    substitutions: ("SUPPORTED_SUBSTITUTIONS", "ExecutableResolver", "Fragment", "Substitution",
                    "parse_substitutions", "resolve_executable"),
    interpreter: ("find_launch_file", "list_launch_arguments", "load_launch_file", "parse_launch_arguments"),
}


def test_facade_reexports_the_defining_modules_objects():
    assert sorted(name for names in HOMES.values() for name in names) == sorted(yaml_launch.__all__)
    for module, names in HOMES.items():
        for name in names:
            obj = getattr(module, name)
            assert getattr(yaml_launch, name) is obj, name
            if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__code__")):
                assert obj.__module__ == module.__name__, f"{name} is defined in {obj.__module__}"

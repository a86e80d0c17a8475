"""Compile a CasADi NLP's functions to C with the system compiler, cached by a hash of the source.

An NLP solver (IPOPT, sqpmethod, ...) calls a handful of functions per iteration: objective,
constraints, their derivatives and the Lagrangian's Hessian (``nlp_f``, ``nlp_jac_g``,
``nlp_hess_l``, ...). CasADi interprets them in its virtual machine; generated C compiled with
``-O1`` runs them 3-10x faster. :func:`compiled_nlpsol` generates that C for a solver's
functions (``CodeGenerator`` over ``Function.get_function()``), compiles it to a shared library
and loads the solver from it (``nlpsol(name, plugin, "lib.so", options)``, the CasADi user
guide's code-generation workflow).

The library is cached under :func:`default_cache_dir` (never in the repository) by the
SHA-256 of the generated source, the compiler, its flags and the CasADi version. The model's
numbers are NLP parameters, not constants in the source, so retraining a model does not
recompile; a new structure (sizes, horizon, cost) does, once per machine. Compilation is
timed separately from solving (:class:`CompiledNLP`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import casadi

#: Environment variable that overrides :func:`default_cache_dir`.
CACHE_ENV = "MBRL_ROS_CASADI_CACHE"


class CompileError(RuntimeError):
    """The C compiler is missing or failed on the generated NLP."""


@dataclasses.dataclass(frozen=True)
class CompiledNLP:
    """Where a solver's compiled functions came from.

    Attributes:
        library: the shared library the solver was loaded from.
        key: SHA-256 (hex) of source, compiler, flags and CasADi version.
        cached: True if the library was already in the cache (nothing compiled).
        codegen_seconds: generating the C source (paid on every build, cached or not).
        compile_seconds: running the compiler (0 when cached).
        source_bytes: size of the generated source.
    """

    library: Path
    key: str
    cached: bool
    codegen_seconds: float
    compile_seconds: float
    source_bytes: int


def default_cache_dir() -> Path:
    """``$MBRL_ROS_CASADI_CACHE``, else ``$XDG_CACHE_HOME/mbrl_ros/casadi``, else ``~/.cache/mbrl_ros/casadi``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mbrl_ros" / "casadi"


def find_compiler(compiler: str) -> str | None:
    """The compiler's path, or None when it is not installed."""
    return shutil.which(compiler)


def _compiler_identity(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"cannot run the C compiler {path!r}: {exc}") from exc
    return out.stdout.splitlines()[0] if out.stdout else path


def compiled_nlpsol(name: str, plugin: str, nlp: dict, options: dict, *, compiler: str = "gcc",
                    flags: tuple[str, ...] = ("-O1",), cache_dir: str | Path | None = None,
                    runtime_options: dict | None = None) -> tuple[casadi.Function, CompiledNLP]:
    """``nlpsol(name, plugin, nlp, options)`` with its functions compiled to C (cached).

    Args:
        name, plugin, nlp, options: as ``casadi.nlpsol``; ``options`` must not hold Python
            objects (callbacks): it also builds the throw-away solver whose functions are generated.
        compiler, flags: the C compiler and its optimization flags.
        cache_dir: default :func:`default_cache_dir`.
        runtime_options: added to ``options`` for the solver that is returned (e.g. an
            ``iteration_callback``).

    Raises:
        CompileError: no compiler, or it failed (its output is in the message).
    """
    path = find_compiler(compiler)
    if path is None:
        raise CompileError(f"C compiler {compiler!r} not found on PATH: install it (apt-get install gcc) or set "
                           f"the nmpc codegen option to 'off'")
    start = time.perf_counter()
    template = casadi.nlpsol(name, plugin, nlp, options)
    generator = casadi.CodeGenerator("nmpc_nlp.c", {"with_header": False})
    generator.add(template.oracle())  # ``nlp(x, p) -> (f, g)``: the loader looks it up first
    for function in template.get_function():
        generator.add(template.get_function(function))
    source = generator.dump()
    codegen_seconds = time.perf_counter() - start
    identity = "\n".join([_compiler_identity(path), " ".join(flags), casadi.__version__, plugin])
    key = hashlib.sha256((identity + "\n" + source).encode()).hexdigest()
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    library = folder / f"nlp_{key[:32]}.so"
    cached = library.exists()
    compile_seconds = 0.0
    if not cached:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CompileError(f"cannot create the CasADi cache directory {folder}: {exc} (set ${CACHE_ENV})") from exc
        with tempfile.TemporaryDirectory(dir=folder, prefix="tmp_casadi_") as tmp:
            c_file, so_file = Path(tmp) / "nmpc_nlp.c", Path(tmp) / "nmpc_nlp.so"
            c_file.write_text(source)
            begin = time.perf_counter()
            result = subprocess.run([path, *flags, "-fPIC", "-shared", str(c_file), "-o", str(so_file), "-lm"],
                                    capture_output=True, text=True, check=False)
            compile_seconds = time.perf_counter() - begin
            if result.returncode != 0:
                raise CompileError(f"{compiler} failed on the generated NLP ({result.returncode}): "
                                   f"{result.stderr[-2000:]}")
            # Atomic: a concurrent build of the same key either sees no file or a complete one.
            os.replace(so_file, library)
    solver = casadi.nlpsol(name, plugin, str(library), {**options, **(runtime_options or {})})
    return solver, CompiledNLP(library, key, cached, codegen_seconds, compile_seconds, len(source))

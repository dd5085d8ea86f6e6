"""Environment references: the one string that names an environment in every stage.

The `env_id` of run folders, artifact manifests and `make_env` is one of

    "CartPole-v1"             a registered Gymnasium id (neuroq's own ids are registered first)
    "my_pkg:MyEnv-v0"         Gymnasium's own form: import `my_pkg` (which registers its envs
                              when imported), then make the registered id `MyEnv-v0`
    "my_pkg.envs:GridWorld"   a class (a `gymnasium.Env` subclass) or a function returning an
                              env, found in an importable module; made with a time limit of
                              CLASS_MAX_EPISODE_STEPS (10,000) steps, as if registered with
                              it (register the env for another)

`neuroq train --gym-package my_pkg --env MyEnv-v0` is stored as "my_pkg:MyEnv-v0", so every
later stage (and `neuroq eval` on a robot) imports the package again before it makes the env:
the reference is all it needs. Modules must be importable (installed, or on PYTHONPATH).

Robot side: gymnasium and the standard library only. Errors are one-line NeuroqErrors.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from neuroq.deploy.errors import NeuroqError

SEPARATOR = ":"
CLASS_MAX_EPISODE_STEPS = 10_000
"""Time limit (steps) of an env named by its class or factory ('module:ClassName'), which has
no registration to say one: without it an episode that never ends hung every evaluation (an
outsider's train run hung in its final evaluation after the warning, stop 40). Registered
ids keep their registration's choice."""


def with_package(env: str, package: str | None) -> str:
    """The reference of `env` made after importing `package` ("package:env"), or `env`."""
    if not isinstance(env, str) or not env.strip():
        raise NeuroqError(f"the env id must be a non-empty string, got {env!r}")
    if not package:
        return env
    if SEPARATOR in env:
        raise NeuroqError(f"--gym-package {package} with --env {env}: the env already names "
                          "its module; give one or the other")
    return f"{package}{SEPARATOR}{env}"


def package_of(ref: str) -> str | None:
    """The module a reference imports first (None for a plain registered id)."""
    return ref.split(SEPARATOR, 1)[0] if SEPARATOR in ref else None


def _import(module: str, ref: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NeuroqError(f"cannot make environment {ref!r}: module {module!r} does not import "
                          f"({exc}); is it installed or on PYTHONPATH?") from None
    except Exception as exc:  # noqa: BLE001 - a user's module may fail in any way on import
        raise NeuroqError(f"cannot make environment {ref!r}: importing {module!r} failed: "
                          f"{type(exc).__name__}: {exc}") from None


def _unknown(name: str, ref: str) -> NeuroqError:
    import gymnasium as gym

    close = difflib.get_close_matches(name, list(gym.registry), n=3)
    hint = (f" (did you mean {', '.join(close)}?)" if close else
            # an id of the user's own, or a dotted path: the two forms that reach it (an
            # outsider tried both 'DroneAlt-v0' and 'owndrone.env.DroneAltitude')
            "; an env of your own is named 'module:ClassName' (or 'module:EnvId' for an id "
            "the module registers on import; --gym-package MODULE with --env EnvId says the "
            "same)")
    return NeuroqError(f"cannot make environment: unknown env id {ref!r}{hint}")


def resolve(ref: str) -> Any:
    """What `gymnasium.make` takes for `ref`: a registered id, or an `EnvSpec` whose entry
    point is the class or factory the reference names. Raises NeuroqError."""
    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    import neuroq.envs  # noqa: F401  (registers neuroq's own environments)

    if not isinstance(ref, str) or not ref.strip():
        raise NeuroqError(f"the env id must be a non-empty string, got {ref!r}")
    if SEPARATOR not in ref:
        if ref not in gym.registry:
            raise _unknown(ref, ref)
        return ref
    module_name, _, name = ref.partition(SEPARATOR)
    if not module_name or not name or SEPARATOR in name:
        raise NeuroqError(f"env reference {ref!r} must be 'module:EnvId' or 'module:ClassName'")
    module = _import(module_name, ref)
    if name in gym.registry:  # the package registered it on import
        return name
    entry = getattr(module, name, None)
    if entry is None:
        raise NeuroqError(f"cannot make environment {ref!r}: module {module_name!r} has no "
                          f"class {name!r} and registers no env id {name!r}")
    if inspect.isclass(entry) and not issubclass(entry, gym.Env):
        raise NeuroqError(f"cannot make environment {ref!r}: {name} is not a gymnasium.Env")
    # a class or a Python function only, refused before it is called: os:system and
    # builtins:exit (a callable object, which ended `neuroq eval` with status 0 and no
    # word) were called (outsiders)
    if not (inspect.isclass(entry) or inspect.isfunction(entry)):
        what = ("is a builtin function" if inspect.isbuiltin(entry)
                else f"is a callable {type(entry).__name__} object" if callable(entry)
                else "is no class or function")
        raise NeuroqError(f"cannot make environment {ref!r}: {name} {what}, not an "
                          "environment class or factory")
    return EnvSpec(id=ref, entry_point=entry, max_episode_steps=CLASS_MAX_EPISODE_STEPS)

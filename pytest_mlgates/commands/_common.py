"""What every ``mlgates`` command shares: finding the project settings and the platform."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..adapters import Adapter, MissingSDKError, UnknownPlatformError, get_adapter
from ..config import ConfigError, Settings, find_pyproject, load_settings
from ..records import AdapterError, StateError

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PYPROJECT", help="pyproject.toml with [tool.mlgates] "
                        "(default: the nearest one at or above the current directory)")
    parser.add_argument("--platform", help="ML platform (default: ML_PLATFORM, then [tool.mlgates] platform)")
    parser.add_argument("--state-dir", help="local platform state folder (default: MLGATES_STATE_DIR or .mlgates)")


def load_project(args: argparse.Namespace) -> tuple[Settings, Adapter]:
    """Settings and adapter for a command; raises ConfigError with a message for the user."""
    pyproject = Path(args.config) if args.config else find_pyproject(Path.cwd())
    if args.config and not pyproject.is_file():  # type: ignore[union-attr]
        raise ConfigError(f"--config {args.config}: no such file")
    settings = load_settings(pyproject, cli={"ml_platform": args.platform, "mlgates_state_dir": args.state_dir})
    return settings, get_adapter(settings.platform, settings)


def fail(message: str, code: int) -> int:
    print(f"mlgates: {message}", file=sys.stderr)
    return code


USER_ERRORS = (ConfigError, UnknownPlatformError, MissingSDKError, StateError)


def with_project(
    args: argparse.Namespace,
    action: Callable[[Settings, Adapter], int],
    blocked: tuple[type[BaseException], ...] = (),
) -> int:
    """Run ``action(settings, adapter)`` with the errors every command treats alike.

    A bad configuration or platform error exits 2 with its message; ``blocked``
    exceptions (a refused promotion) exit 1; the adapter is always closed.
    """
    try:
        settings, adapter = load_project(args)
    except USER_ERRORS as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        return action(settings, adapter)
    except blocked as exc:
        return fail(str(exc), EXIT_BLOCKED)
    except AdapterError as exc:
        return fail(f"{type(exc).__name__}: {exc}", EXIT_USAGE)
    finally:
        adapter.close()

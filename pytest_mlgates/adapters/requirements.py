"""The user's requirements.txt, shipped with the training entry point to every cloud.

A training script must not need pytest-mlgates inside a cloud's container; it needs
the packages the project names. The one rule on every platform: the
``requirements.txt`` at the root of the folder shipped with the entry point (the
entry point's own folder, or ``source_dir``) goes with the code, and the cloud's
own mechanism installs it before the script runs: SageMaker's training toolkit
pip-installs it from the submit directory, Azure ML's command runs
``pip install -r requirements.txt`` first, and Vertex AI's prebuilt images install
the staged package's ``install_requires``.
"""

from __future__ import annotations

from pathlib import Path

REQUIREMENTS = "requirements.txt"


class RequirementsError(ValueError):
    """A requirements.txt line that a platform's install mechanism cannot carry."""


def shipped_requirements(source: Path) -> Path | None:
    """The requirements.txt at the root of the shipped folder ``source``, or None when there is none."""
    path = source / REQUIREMENTS
    return path if path.is_file() else None


def install_requires(path: Path) -> list[str]:
    """The requirements of ``path`` as a package's ``install_requires`` (PEP 508 strings).

    A package's metadata carries only PEP 508 requirements, so a pip option
    (``-r``, ``-e``, ``--index-url``, ...) or a bare file path is refused with
    its line number rather than dropped: the job would otherwise start without it.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    found: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("-"):
            raise RequirementsError(
                f"{path} line {number}: {line!r} is a pip option, which a package's install_requires cannot "
                f"carry; list plain requirements (name, version specifiers, or name @ URL)")
        try:
            found.append(str(Requirement(line)))
        except InvalidRequirement as exc:
            raise RequirementsError(
                f"{path} line {number}: {line!r} is not a PEP 508 requirement ({exc}); write it as "
                f"'name', 'name==version' or 'name @ https://...'") from None
    return found

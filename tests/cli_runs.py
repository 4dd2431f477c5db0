"""The ``mlgates`` console script run in a subprocess, as a user runs it, and the champion gate test it runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

MLGATES = str(Path(sys.executable).parent / "mlgates")

GATE = textwrap.dedent('''
    import pytest
    from pytest_mlgates.gates import assert_non_inferior

    @pytest.mark.champion_gate
    def test_gate(challenger, champion):
        assert_non_inferior(challenger, champion)
''')


def mlgates(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mlgates ARGS`` in ``folder``, with none of this run's platform or mlgates settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_PLATFORM", "MLGATES_"))}
    return subprocess.run([MLGATES, *args], cwd=folder, capture_output=True, text=True, timeout=120, env=env)

"""Registration proof benchmark (issue 12): what proving an artifact costs per registration.

    .venv/bin/python bench/bench_proof.py [--runs 7]

The proof loads the model and predicts 5 validation rows in one child process
(pytest_mlgates.artifact_proof). Measured, interleaved, median of ``--runs``:
the proof of the demo scikit-learn pipeline (joblib), and as the baseline a
bare child ``python -c "import joblib, pandas, sklearn"`` (the imports any
loader pays), so the ratio shows what the proof adds beyond starting Python
and importing the model's libraries. One proof runs per registration, never
per test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlgates.artifact_proof import prove_artifact  # noqa: E402
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = train_demo_model(Path(tmp) / "m")
        rows_file = Path(tmp) / "rows.csv"
        demo_rows(50, seed=3).to_csv(rows_file, index=False)
        proof, bare = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import joblib, pandas, sklearn"], check=True)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert prove_artifact(folder, rows_file, drop=[TARGET]) == 5
            proof.append(time.perf_counter() - start)
    p, b = statistics.median(proof), statistics.median(bare)
    print(f"proof median {p:.3f} s, bare child with the imports {b:.3f} s, ratio {p / b:.2f} "
          f"(runs {args.runs})")


if __name__ == "__main__":
    main()

"""pytest-mlgates: ML CI/CD quality gates as pytest tests.

Kept import-light on purpose: importing the package (and the pytest plugin)
never imports a cloud SDK, pandas, scikit-learn or locust.
"""

__version__ = "0.1.0"

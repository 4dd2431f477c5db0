"""CI tooling: ``mlgates init`` scaffolding (scaffold.py, templates/) and ``mlgates lint`` (lint.py)."""

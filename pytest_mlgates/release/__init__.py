"""Release logic, the way to production: the gate ledger (ledger.py), ledger-checked
compare-and-swap promotion (promotion.py) and the progressive rollout (rollout.py)."""

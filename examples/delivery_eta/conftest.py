# Makes train.py and deliveries.py importable by the unit tests.

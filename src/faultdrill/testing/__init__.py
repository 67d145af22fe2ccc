"""Testing helpers for faultdrill users: the pytest plugin lives in ``faultdrill.testing.plugin``."""

"""The fault engine: faults applied on the run's timeline, journaled before they happen."""

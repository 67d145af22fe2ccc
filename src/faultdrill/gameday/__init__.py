"""Game days: a live drill a team steers (live view, manual and hidden faults, annotations,
alerts), and the evidence they review afterwards (timeline, retrospective draft)."""

"""The suggested migration: generated in the project's style, driftbot's own ops (fixops), verified."""

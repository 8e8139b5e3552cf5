"""Calibration: survey reading, choice-model estimation, fitting to aggregates, the report."""

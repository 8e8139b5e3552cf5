"""Fitting, the calibration's code: survey reading, choice-model estimation, fitting to aggregates, the report.

Its data (targets, evidence, the survey, the fitted coefficients) live in abm/calibration/."""

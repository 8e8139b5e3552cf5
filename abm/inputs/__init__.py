"""Inputs: the scenario schema and loader, dated values, the county and the data files, all validated."""

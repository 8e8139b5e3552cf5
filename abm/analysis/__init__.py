"""Analysis over many runs: replications, comparisons, sweeps, experiments, validation and fitting."""

"""The simulation: population, rules, behaviour, fund and indicators of one county, year by year."""

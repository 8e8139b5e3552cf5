"""Policy search: the cheapest mix of levers that reaches a target, over a fixed set of uncertain scenarios.

``spec`` reads and checks a search file, ``problem`` turns levers into scenarios and scores policies,
``archive`` keeps every evaluation on disk (the cache, and what ``--resume`` replays), ``optimize``
runs the many-objective search (pymoo) and its final re-run, ``report`` writes the results folder.
"""

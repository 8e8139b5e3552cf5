"""Awareness of the policy and trust in government: what publicity, service and neighbours do."""

from __future__ import annotations

import numpy as np

from abm.sim.policy import YearPolicy

EDUCATION_AGES = (16, 59)  # whom financial education reaches (policy.financial_education)


def village_share(village: np.ndarray, mask: np.ndarray, among: np.ndarray | None, n_villages: int) -> np.ndarray:
    """Share of residents ``among`` each village (None: all) for whom ``mask`` holds, per village."""
    if among is None:  # per village: residents without, then with the mark
        counts = np.bincount(village * 2 + mask, minlength=2 * n_villages).reshape(n_villages, 2)
        hits, totals = counts[:, 1], counts.sum(axis=1)
    else:  # per village: not among them, among them without the mark, with it
        counts = np.bincount(village * 3 + among + (among & mask), minlength=3 * n_villages).reshape(n_villages, 3)
        hits, totals = counts[:, 2], counts[:, 1] + counts[:, 2]
    return np.divide(hits, totals, out=np.zeros(n_villages), where=totals > 0)


def update(
    pop, policy: YearPolicy, dynamics: dict[str, float], n_villages: int, rng: np.random.Generator | None = None
) -> None:
    """One year of learning and forgetting.

    Awareness rises with publicity, with the village share paying last year and with the village
    share already drawing a pension; trust rises with service quality and visible pensions. Both
    close a share of the gap to 1 and decay by a share of their level. Residents aged 16-59 reached
    by financial education (the year's share) learn compound interest, and publicity teaches it to
    a share of the others; it is not forgotten.
    """
    learn = np.clip(dynamics["literacy_publicity"] * policy.publicity, 0, 1)
    if rng is not None and (policy.financial_education > 0 or learn > 0):
        drawn = rng.random(len(pop))  # drawn even when nobody is reached, so that later draws stay in place
        if policy.financial_education > 0:
            ages = (pop.age >= EDUCATION_AGES[0]) & (pop.age <= EDUCATION_AGES[1])
            pop.literate |= ages & (drawn < policy.financial_education)
        pop.literate |= rng.random(len(pop)) < learn
    # the gains depend on the village only: worked out per village, then given to its residents
    paying = village_share(pop.village, pop.choice > 0, pop.choice >= 0, n_villages)
    pensioners = village_share(pop.village, pop.pensioner, None, n_villages)
    d = dynamics
    gain = (
        d["awareness_publicity"] * policy.publicity
        + d["awareness_peers"] * paying
        + d["awareness_pensioners"] * pensioners
    )
    pop.awareness = _moved(pop.awareness, gain[pop.village], d["awareness_decay"])
    gain = d["trust_service"] * policy.service_quality + d["trust_pensioners"] * pensioners
    pop.trust = _moved(pop.trust, gain[pop.village], d["trust_decay"])


def _moved(level: np.ndarray, gain: np.ndarray, decay: float) -> np.ndarray:
    """level + (1 - level) x gain - decay x level, within 0-1 (``gain`` is reused)."""
    moved = np.multiply(1 - level, gain, out=gain)
    moved += level
    moved -= decay * level
    return np.clip(moved, 0, 1, out=moved)

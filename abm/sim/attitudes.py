"""Awareness of the policy and trust in government: what publicity, service and neighbours do."""

from __future__ import annotations

import numpy as np

from abm.sim.policy import YearPolicy

EDUCATION_AGES = (16, 59)   # whom financial education reaches (policy.financial_education)


def village_share(village: np.ndarray, mask: np.ndarray, among: np.ndarray, n_villages: int) -> np.ndarray:
    """Share of residents ``among`` each village for whom ``mask`` holds."""
    hits = np.bincount(village[among & mask], minlength=n_villages)
    totals = np.bincount(village[among], minlength=n_villages)
    return np.divide(hits, totals, out=np.zeros(n_villages), where=totals > 0)


def update(pop, policy: YearPolicy, dynamics: dict[str, float], n_villages: int,
           rng: np.random.Generator | None = None) -> None:
    """One year of learning and forgetting.

    Awareness rises with publicity, with the village share paying last year and with the village
    share already drawing a pension; trust rises with service quality and visible pensions. Both
    close a share of the gap to 1 and decay by a share of their level. Residents aged 16-59 reached
    by financial education (the year's share) learn compound interest, and publicity teaches it to
    a share of the others; it is not forgotten.
    """
    learn = np.clip(dynamics["literacy_publicity"] * policy.publicity, 0, 1)
    if rng is not None and (policy.financial_education > 0 or learn > 0):
        ages = (pop.age >= EDUCATION_AGES[0]) & (pop.age <= EDUCATION_AGES[1])
        reached = ages & (rng.random(len(pop)) < policy.financial_education)
        pop.literate = pop.literate | reached | (rng.random(len(pop)) < learn)
    everyone = np.ones(len(pop), bool)
    paying = village_share(pop.village, pop.choice > 0, pop.choice >= 0, n_villages)[pop.village]
    pensioners = village_share(pop.village, pop.pensioner, everyone, n_villages)[pop.village]
    d = dynamics
    gain = d["awareness_publicity"] * policy.publicity + d["awareness_peers"] * paying \
        + d["awareness_pensioners"] * pensioners
    pop.awareness = np.clip(pop.awareness + (1 - pop.awareness) * gain - d["awareness_decay"] * pop.awareness, 0, 1)
    gain = d["trust_service"] * policy.service_quality + d["trust_pensioners"] * pensioners
    pop.trust = np.clip(pop.trust + (1 - pop.trust) * gain - d["trust_decay"] * pop.trust, 0, 1)

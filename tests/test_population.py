"""The synthetic population (county totals, age and sex mix), the row store, and the life table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abm.inputs.county import County
from abm.inputs.datafiles import load_parameters
from abm.sim import population
from abm.sim.demography import LifeTable, gompertz_makeham_qx
from abm.sim.population import COLUMNS, synthesise
from helpers import COUNTY_FILE, LIFE_TABLE_FILE, make_population, with_policy

# Gompertz-Makeham mu(x) = A + B exp(c x), rural approximation (docs/domain.md section 5; the header of
# abm/data/life_table_rural.csv).
GOMPERTZ = {"male": (0.0008, 2.682e-5, 0.1006), "female": (0.0004, 6.243e-6, 0.1146)}
E60 = {"male": 19.0, "female": 22.1}


@pytest.fixture(scope="module")
def county():
    return County.model_validate(load_parameters(COUNTY_FILE))


@pytest.fixture(scope="module")
def life():
    return LifeTable.from_csv(LIFE_TABLE_FILE)


@pytest.fixture(scope="module")
def qx_table():
    """The shipped life table read by hand: qx[sex][age]."""
    table = pd.read_csv(LIFE_TABLE_FILE, comment="#")
    return {sex: group.sort_values("age")["qx"].to_numpy() for sex, group in table.groupby("sex")}


@pytest.fixture(scope="module")
def expected_shares(county, qx_table):
    """Share of the whole population at each age, by hand: census bands spread by survivorship."""
    qx = (qx_table["male"] + qx_table["female"]) / 2
    lx = np.concatenate([[1.0], np.cumprod(1 - qx)[:-1]])
    shares = np.zeros(qx.size)
    for band, share in county.age_bands.items():
        first, last = map(int, band.split("-"))
        shares[first : last + 1] = share * lx[first : last + 1] / lx[first : last + 1].sum()
    return shares / shares.sum()


def _draw(county, life, residents, seed=1):
    return synthesise(county, life, residents, mean_income=5601.0, pension_age=60, rng=np.random.default_rng(seed))


def test_weights_add_up_to_the_county_adults(county, life, expected_shares):
    """Sum of weights = county population x share aged 16+ (census bands, qi_county.yaml)."""
    adults = county.population * expected_shares[16:].sum()
    pop = _draw(county, life, 2000)
    assert len(pop) == 2000
    assert pop.weight * len(pop) == pytest.approx(adults, rel=1e-12)
    assert 0.80 * county.population < adults < 0.83 * county.population  # 82% are 15+ in the census


def test_one_to_one_population_has_weight_one(county, life, expected_shares):
    """residents: None draws one simulated resident per real adult."""
    adults = county.population * expected_shares[16:].sum()
    pop = _draw(county, life, None)
    assert len(pop) == round(adults)
    assert pop.weight == pytest.approx(1.0, abs=0.5 / len(pop))
    assert pop.weight * len(pop) == pytest.approx(adults, rel=1e-12)


def test_under_16_cohorts_hold_the_rest_of_the_county(county, life, expected_shares):
    """Children 0-15 are counted, not simulated: they and the adults make up the county."""
    pop = _draw(county, life, 2000)
    np.testing.assert_allclose(pop.under_16, county.population * expected_shares[:16], rtol=1e-12)
    assert pop.under_16.sum() + pop.weight * len(pop) == pytest.approx(county.population, rel=1e-12)


@pytest.mark.parametrize("first, last", [(16, 29), (30, 44), (45, 59), (60, 64), (65, 105)])
def test_age_mix_matches_the_census_bands_within_sampling_error(county, life, expected_shares, first, last):
    """Share of a 20,000 sample in each age band is within 4 standard errors of the expected share."""
    pop = _draw(county, life, 20_000)
    expected = expected_shares[first : last + 1].sum() / expected_shares[16:].sum()
    observed = np.mean((pop.age >= first) & (pop.age <= last))
    assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / len(pop))


def test_nobody_is_under_16(county, life):
    """The scheme is open from 16: the simulated residents are 16+."""
    assert _draw(county, life, 20_000).age.min() >= 16


def test_male_share_matches_the_county(county, life):
    """Share of men within 4 standard errors of the county's 52.1%."""
    pop = _draw(county, life, 20_000)
    p = county.male_share
    assert p == 0.521
    assert abs(pop.sex.mean() - p) < 4 * np.sqrt(p * (1 - p) / len(pop))


def test_residents_at_pension_age_are_pensioners_unless_employees(county, life):
    """At launch everyone aged 60+ outside the employee scheme draws the basic pension."""
    pop = _draw(county, life, 5000)
    np.testing.assert_array_equal(pop.pensioner, (pop.age >= 60) & ~pop.employee)
    assert not pop.years.any() and not pop.account.any()


def test_ids_are_sorted_and_unique(county, life):
    """Rows are ordered by a unique id."""
    ids = _draw(county, life, 5000).id
    assert np.all(np.diff(ids) > 0)


def test_same_seed_same_population(county, life):
    """Synthesis is reproducible from the generator's seed."""
    a, b, c = _draw(county, life, 3000, seed=7), _draw(county, life, 3000, seed=7), _draw(county, life, 3000, seed=8)
    np.testing.assert_array_equal(a.income, b.income)
    assert not np.array_equal(a.income, c.income)


def test_keep_drops_rows_and_rows_finds_residents_by_id():
    """After dropping rows, a resident's row is found by id; departed residents give -1."""
    pop = make_population(10, age=np.arange(20, 30))
    pop.keep(~np.isin(pop.id, [3, 7]))
    assert len(pop) == 8
    np.testing.assert_array_equal(pop.rows(np.array([0, 3, 4, 7, 9])), [0, -1, 3, -1, 7])
    assert pop.age[pop.rows(9)] == 29 and pop.age[pop.rows(4)] == 24
    assert pop.rows(99) == -1


def test_append_keeps_ids_ordered_and_columns_aligned():
    """New residents go to the end with fresh ids; every column stays aligned with its id."""
    pop = make_population(5, age=np.arange(20, 25))
    pop.keep(pop.id != 4)
    assert pop.next_id == 5
    newcomers = {name: np.zeros(2, dtype=dtype) for name, dtype in COLUMNS.items()}
    newcomers["id"] = np.array([pop.next_id, pop.next_id + 1])
    newcomers["age"] = np.array([16, 16])
    pop.append(newcomers)
    np.testing.assert_array_equal(pop.id, [0, 1, 2, 3, 5, 6])
    np.testing.assert_array_equal(pop.age, [20, 21, 22, 23, 16, 16])
    assert pop.next_id == 7
    assert pop.rows(6) == 5 and pop.rows(4) == -1


def test_years_of_departures_and_arrivals_keep_every_column_aligned():
    """Rows dropped and added year after year, within the columns' buffers (block by block, more rows than
    one block) and beyond them (new buffers), leave each column what dropping and appending would."""
    rng = np.random.default_rng(4)
    n = 3 * population.BLOCK + 123
    pop = make_population(n, age=rng.integers(16, 90, n), income=rng.random(n), village=rng.integers(0, 50, n))
    expected = {name: getattr(pop, name).copy() for name in ("id", "age", "income", "village")}
    for _ in range(6):
        keep = rng.random(len(pop)) > 0.05
        count = int(rng.integers(0, 2 * n // population.HEADROOM))  # some years more than the room left
        arrivals = {name: np.zeros(count, dtype=dtype) for name, dtype in COLUMNS.items()}
        arrivals |= {
            "id": np.arange(pop.next_id, pop.next_id + count),
            "age": np.full(count, 16),
            "income": rng.random(count),
            "village": rng.integers(0, 50, count),
        }
        pop.keep(keep, arrivals)
        for name in expected:
            expected[name] = np.concatenate([expected[name][keep], arrivals[name].astype(COLUMNS[name])])
            np.testing.assert_array_equal(getattr(pop, name), expected[name])
        assert len(pop) == expected["id"].size and pop.next_id == expected["id"][-1] + 1
    np.testing.assert_array_equal(pop.rows(expected["id"][::7]), np.arange(len(pop))[::7])


def test_column_assignment_writes_in_place():
    """pop.column = value changes the stored column (dtype kept), not a copy."""
    pop = make_population(3)
    column = pop.account
    pop.account = [1.5, 2.5, 3.5]
    assert pop.account is column and pop.account.dtype == np.float64
    np.testing.assert_array_equal(column, [1.5, 2.5, 3.5])


@pytest.mark.parametrize("sex", ["female", "male"])
def test_life_table_is_the_stated_gompertz_makeham_fit(qx_table, sex):
    """The shipped qx equal the Gompertz-Makeham formula with the parameters of docs/domain.md section 5
    (qx=1 at the end).

    The CSV has 8 decimals, so below qx ~ 0.005 its rounding (up to 5e-9) exceeds rtol 1e-6:
    the comparison allows rtol 1e-6 or half a unit in the 8th decimal."""
    qx = qx_table[sex]
    ages = np.arange(qx.size)
    np.testing.assert_allclose(qx, gompertz_makeham_qx(*GOMPERTZ[sex], ages, last_age=ages[-1]), rtol=1e-6, atol=5e-9)
    assert qx[-1] == 1.0


@pytest.mark.parametrize("sex", ["female", "male"])
def test_gompertz_makeham_qx_integrates_the_hazard(sex):
    """qx = 1 - exp(-integral of mu over the year), checked by numerical integration at age 70."""
    a, b, c = GOMPERTZ[sex]
    x = np.linspace(70, 71, 100_001)
    integral = np.trapezoid(a + b * np.exp(c * x), x)
    assert gompertz_makeham_qx(a, b, c, np.array([70]), 105)[0] == pytest.approx(1 - np.exp(-integral), rel=1e-8)


@pytest.mark.parametrize("sex", ["female", "male"])
def test_life_expectancy_at_60(qx_table, sex):
    """e60 from the table is about 19.0 (men) and 22.1 (women), within 0.1 year."""
    qx = qx_table[sex]
    lx = np.concatenate([[1.0], np.cumprod(1 - qx)[:-1]])
    e60 = lx[61:].sum() / lx[60] + 0.5
    assert e60 == pytest.approx(E60[sex], abs=0.1)


def test_life_table_loader_orders_sexes_as_coded(life, qx_table):
    """LifeTable.qx[0] is female and qx[1] is male (population.sex codes)."""
    np.testing.assert_array_equal(life.qx[0], qx_table["female"])
    np.testing.assert_array_equal(life.qx[1], qx_table["male"])


def test_the_choice_column_holds_every_grade_the_schema_allows():
    """Grades go up to MAX_GRADE yuan (20,000; the schema refuses more): the column, int16 at its narrowest,
    must not wrap them."""
    from abm.inputs.scenario import MAX_GRADE

    pop = make_population(4, choice=[-1, 0, 15_000, MAX_GRADE])
    assert pop.choice.tolist() == [-1, 0, 15_000, MAX_GRADE]
    assert np.iinfo(COLUMNS["choice"]).max >= MAX_GRADE and np.iinfo(COLUMNS["choice"]).min <= -1


def test_a_run_with_a_high_grade_records_it_unchanged(small_scenario):
    from abm.inputs.scenario import MAX_GRADE
    from abm.sim.model import PensionModel

    spec = with_policy(small_scenario, grades={2011: [100, MAX_GRADE]})
    model = PensionModel(
        scenario=spec.model_copy(
            update={"behaviour": spec.behaviour.model_copy(update={"choice": {"highest": 30.0, "affordability": 0.0}})}
        )
    )
    model.step()
    assert set(np.unique(model.population.choice)) <= {-1, 0, 100, MAX_GRADE}
    assert (model.population.choice == MAX_GRADE).any()

"""Policy rules: subsidy schedules, dated values, the basic pension path, annuity divisors, eligibility."""

from __future__ import annotations

import numpy as np
import pytest

from abm.inputs.county import County
from abm.inputs.datafiles import load_parameters
from abm.inputs.dated import value_at
from abm.inputs.scenario import MAX_GRADE, GradeRevision, Indexation
from abm.sim.economy import Economy
from abm.sim.policy import (
    basic_pension_path,
    eligible_to_contribute,
    ladder_round,
    may_backpay,
    menu_for_year,
    offered_grades,
    policy_for_year,
    revise_grades,
    revise_subsidy,
    subsidy_schedule,
)
from helpers import COUNTY_FILE, latest, make_population, with_policy, year_policy

GRADES_2014 = np.array([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000])
# Anhui's "pay more, get more" schedule (docs/domain.md section 1), with the national 30 at the lowest grade.
ANHUI = [
    [100, 30],
    [200, 40],
    [300, 50],
    [400, 60],
    [500, 70],
    [600, 80],
    [700, 90],
    [1000, 120],
    [1500, 150],
    [2000, 200],
]


def test_national_subsidy_is_30_below_500_and_60_from_500():
    """National minimum: 30 yuan/year, 60 for grades of 500 and above."""
    got = subsidy_schedule([[100, 30], [500, 60]], GRADES_2014)
    expected = [30 if g < 500 else 60 for g in GRADES_2014]
    np.testing.assert_array_equal(got, expected)


def test_anhui_tiered_subsidy_takes_the_highest_rule_at_or_below_each_grade():
    """Tiered schedule: 800 and 900 get the 700 rule, 3000 gets the 2000+ rule."""
    grades = np.array([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 3000])
    expected = [30, 40, 50, 60, 70, 80, 90, 90, 90, 120, 150, 200, 200]
    np.testing.assert_array_equal(subsidy_schedule(ANHUI, grades), expected)


def test_subsidy_rules_need_not_be_sorted():
    """The rule order in a scenario file does not matter."""
    np.testing.assert_array_equal(subsidy_schedule(ANHUI[::-1], GRADES_2014), subsidy_schedule(ANHUI, GRADES_2014))


def test_grade_below_every_subsidy_rule_raises():
    """A grade no rule covers is an error, not a silent zero."""
    with pytest.raises(ValueError, match="50"):
        subsidy_schedule([[100, 30], [500, 60]], np.array([50, 100]))


def test_value_at_carries_the_last_dated_value_forward():
    """A dated value holds until the next date, and forever after the last one."""
    dated = {2011: "a", 2014: "b", 2020: "c"}
    assert [value_at(dated, y) for y in (2011, 2013, 2014, 2019, 2020, 2090)] == ["a", "a", "b", "b", "c", "c"]


def test_value_at_before_the_first_date_raises():
    """No value is in force before the first date."""
    with pytest.raises(KeyError):
        value_at({2011: 1}, 2010)


def _economy(scenario, last_year=2045):
    county = County.model_validate(load_parameters(COUNTY_FILE))
    return Economy(county.rural_income, scenario.economy, scenario.start_year - 1, last_year)


def _growth_by_hand(scenario, year):
    """Growth of the basic pension in ``year`` from the scenario's numbers, not the package's."""
    rule = scenario.policy.basic_pension_indexation
    income_growth = latest(scenario.economy.income_growth, year)  # years after the observed data
    inflation = latest(scenario.economy.inflation, year)
    return rule.rate + rule.income_share * income_growth + rule.price_share * inflation


def test_basic_pension_follows_dated_values_up_to_the_last_date(baseline):
    """Up to 2025 the national minimum is the dated value in force (docs/domain.md section 1)."""
    path = basic_pension_path(baseline.policy, _economy(baseline), range(2011, 2026))
    expected = {
        2011: 55,
        2013: 55,
        2014: 70,
        2017: 70,
        2018: 88,
        2020: 93,
        2021: 93,
        2022: 98,
        2023: 103,
        2024: 123,
        2025: 143,
    }
    assert {y: path[y] for y in expected} == expected


def test_basic_pension_is_indexed_after_the_last_date(baseline):
    """After 2025: last value times (1 + rate + income_share*income growth + price_share*inflation)."""
    scenario = with_policy(baseline, basic_pension_indexation=Indexation(rate=0.01, income_share=0.5, price_share=0.5))
    path = basic_pension_path(scenario.policy, _economy(scenario), range(2011, 2045))
    expected = 143.0
    for year in range(2026, 2045):
        expected *= 1 + _growth_by_hand(scenario, year)
        assert path[year] == pytest.approx(expected, rel=1e-12), year
    # spot check one year fully by hand: 2026 grows by 1% + 0.5*5% + 0.5*2%
    assert path[2026] == pytest.approx(143 * 1.045, rel=1e-12)


def test_basic_pension_after_the_last_date_does_not_depend_on_the_first_year_asked(baseline):
    """The 2030 basic pension is the same whether the path starts in 2011 or in 2030."""
    economy = _economy(baseline)
    full = basic_pension_path(baseline.policy, economy, range(2011, 2032))
    late = basic_pension_path(baseline.policy, economy, range(2030, 2032))
    assert late[2030] == pytest.approx(full[2030], rel=1e-12)
    assert late[2030] == pytest.approx(143 * 1.02**5, rel=1e-12)  # prices +2%/year from 2026


@pytest.mark.parametrize(
    "age, months",
    [
        (60, 139),
        (65, 101),
        (55, 170),
        (40, 233),
        (70, 56),
        (62, 139 + (101 - 139) * 2 / 5),  # interpolated
        (30, 233),
        (80, 56),
    ],
)  # clamped to the table
def test_annuity_divisor_interpolates_in_the_table_and_clamps_outside(baseline, age, months):
    """Divisor by pension age: table values, linear in between, the end values outside."""
    policy = year_policy(baseline, 2020)
    assert float(policy.annuity_divisor(age)) == pytest.approx(months, rel=1e-12)


# (year, resident, eligible). Launch 2011: the transitional cohort was 46+ at launch (55+ in 2020).
ELIGIBILITY = {
    "student below school_until": (2020, dict(age=17, school_until=18), False),
    "has left school": (2020, dict(age=19, school_until=18), True),
    "leaves school at 16": (2020, dict(age=16, school_until=16), True),
    "employee scheme": (2020, dict(age=40, employee=True), False),
    "pensioner": (2020, dict(age=65, pensioner=True, years=15), False),
    "working age, never paid": (2020, dict(age=59, years=0), True),
    "past 60, short of 15 years, 22 at launch": (2050, dict(age=61, years=10), True),
    "past 60, short of 15 years, may back-pay": (2020, dict(age=61, years=10), False),
    "past 60, never paid": (2050, dict(age=61, years=0), False),
    "past 60 with 15 years": (2050, dict(age=61, years=15), False),
}


@pytest.mark.parametrize("case", list(ELIGIBILITY))
def test_eligible_to_contribute(baseline, case):
    """Students, employees and pensioners cannot pay; after 60 only those still short of 15 years
    pay, unless they may back-pay."""
    year, columns, expected = ELIGIBILITY[case]
    pop = make_population(1, **columns)
    assert bool(eligible_to_contribute(pop, year_policy(baseline, year))[0]) is expected


@pytest.mark.parametrize(
    "age_at_launch, years, expected",
    [
        (45, 1, False),  # exactly 15 years to go: no back-payment
        (46, 1, True),  # 14 years to go
        (59, 1, True),
        (50, 0, False),  # never paid
        (30, 5, False),
    ],
)
def test_may_backpay_only_under_15_years_to_go_at_launch_and_paid_once(baseline, age_at_launch, years, expected):
    """Back-payment is for residents with under 15 years to go at launch who have paid at least once."""
    policy = year_policy(baseline, 2016)
    age = np.array([age_at_launch + 2016 - 2011])
    assert bool(may_backpay(age, np.array([years]), policy)[0]) is expected


def test_may_backpay_is_off_when_the_scenario_disables_it(baseline):
    """backpay: false removes the right for everyone."""
    policy = year_policy(with_policy(baseline, backpay=False), 2016)
    assert not may_backpay(np.array([60]), np.array([3]), policy).any()


def test_a_later_pension_age_change_creates_no_back_payment_right(baseline):
    """The right to back-pay is decided by age at launch against the pension age at launch (60):
    cutting the pension age to 55 in 2030 gives nobody who was 41-45 in 2011 the right, while
    those 46+ at launch keep it."""
    scenario = with_policy(baseline, pension_age={2011: 60, 2030: 55})
    policy = year_policy(scenario, 2030)
    assert policy.pension_age == 55 and policy.launch_pension_age == 60
    ages_at_launch = np.arange(41, 50)
    right = may_backpay(ages_at_launch + 2030 - 2011, np.ones(ages_at_launch.size), policy)
    np.testing.assert_array_equal(right, ages_at_launch >= 46)


def test_no_back_payments_in_a_run_after_the_pension_age_is_cut(baseline):
    """`--set policy.pension_age.2030=55` in a run: nobody back-pays in 2030, with or without the
    change (today's rule once created back-payments for the cohort 41-45 at launch). The pension is
    valued so highly that anyone with the right back-pays; those of the cohort 41-45 at launch short
    of years past the pension age in 2030 (60-64) do not, and they exist."""
    from abm.inputs.coefficients import load_coefficients
    from abm.sim.model import PensionModel
    from helpers import small

    eager = load_coefficients(baseline.behaviour.coefficients, baseline.source_dir).replace({"basic_value": 100.0})

    def backpayers_and_exposed(scenario):  # ages at launch of 2030's back-payers, residents exposed
        model = PensionModel(scenario=small(scenario, residents=3000, end_year=2030), rng=5, coefficients=eager)
        retire, seen = model.fund.retire, {}

        def recording(pop, policy, backpaying=None):
            years, age_at_launch = pop.years.copy(), pop.age - (policy.year - policy.launch_year)
            exposed = (
                ~pop.pensioner
                & (pop.age >= policy.pension_age)
                & (age_at_launch >= 41)
                & (age_at_launch <= 45)
                & (pop.years > 0)
                & (pop.years < policy.min_years)
            )
            retiring = retire(pop, policy, backpaying)
            seen[policy.year] = age_at_launch[pop.years > years], int(exposed.sum())
            return retiring

        model.fund.retire = recording
        while model.running:
            model.step()
        return seen[2030]

    for scenario in (baseline, with_policy(baseline, pension_age={2011: 60, 2030: 55})):
        ages_at_launch, exposed = backpayers_and_exposed(scenario)
        assert ages_at_launch.size == 0  # the launch cohort with the right back-paid at 60: 65+ by 2030
        assert exposed > 0


def test_year_policy_resolves_dated_values(baseline):
    """policy_for_year takes each value in force that year: 2013 has 5 grades, 2014 has 12."""
    p2013, p2014 = year_policy(baseline, 2013), year_policy(baseline, 2014)
    assert list(p2013.grades) == [100, 200, 300, 400, 500]
    np.testing.assert_array_equal(p2014.grades, GRADES_2014)
    assert p2013.interest_rate == 0.03 and p2014.interest_rate == 0.0275
    assert p2014.government_paid_subsidy == 30
    assert year_policy(baseline, 2016).government_paid_groups != year_policy(baseline, 2017).government_paid_groups


def test_county_aggregates_move_with_mean_rural_income(baseline):
    """GDP given for 2017 only: other years scale it by mean income relative to 2017, before and after."""
    economy = _economy(baseline, last_year=2100)
    observed = {2017: 1000.0}
    assert economy.with_income(observed, 2017) == 1000.0
    for year in (2011, 2030, 2100):
        assert economy.with_income(observed, year) == pytest.approx(
            1000.0 * economy.mean_income(year) / economy.mean_income(2017)
        )
    two = {2015: 10.0, 2020: 30.0}  # the latest year given at or before, else the first
    assert economy.with_income(two, 2019) == pytest.approx(10.0 * economy.mean_income(2019) / economy.mean_income(2015))
    assert economy.with_income(two, 2012) == pytest.approx(10.0 * economy.mean_income(2012) / economy.mean_income(2015))


# --- grade lists and subsidy steps revised with income (policy.grade_revision) ---------------------

LADDER = [(0, 100), (1000, 500), (5000, 1000)]  # the baseline's: 100s to 1,000, 500s to 5,000, then 1,000s


def _revision(**fields) -> GradeRevision:
    return GradeRevision(**{"every": 5, "first_year": 2030, "base_year": 2025, "rounding": LADDER} | fields)


def test_the_ladder_rounds_to_the_nearest_step_of_each_amounts_rung():
    """Below 1,000 to 100s, from 1,000 to 500s, from 5,000 to 1,000s; halves up; at least one step."""
    values = [40, 127.6, 149.9, 150, 980, 1020, 1240, 1250, 4800, 5600]
    expected = [100, 100, 100, 200, 1000, 1000, 1000, 1500, 5000, 6000]
    np.testing.assert_array_equal(ladder_round(values, LADDER), expected)


def test_a_revised_list_is_scaled_rounded_and_without_duplicates():
    """The 2014 list x 1.25: 125->100, 250->300, 375->400, 500, 625->600, 750->800, 875->900,
    1,000, 1,125->1,000 (meets 1,000: one grade), 1,250->1,500, 1,875->2,000, 2,500."""
    got = revise_grades(GRADES_2014, 1.25, _revision())
    assert got == [100, 300, 400, 500, 600, 800, 900, 1000, 1500, 2000, 2500]


def test_a_revised_list_stays_within_the_largest_grade():
    """15,000 x 1.5 and 20,000 x 1.5 pass the 20,000 ceiling: both become 20,000, one grade."""
    assert revise_grades([10_000, 15_000, 20_000], 1.5, _revision()) == [15_000, MAX_GRADE]


def test_revised_subsidy_steps_round_thresholds_like_grades_and_amounts_to_tens():
    """[[100, 30], [500, 60]] x 1.25: thresholds 125->100, 625->600; amounts 37.5->40, 75->80."""
    assert revise_subsidy([[100, 30], [500, 60]], 1.25, _revision()) == [(100, 40.0), (600, 80.0)]
    # thresholds that meet (100 and 120 both round to 100): the higher rule's amount (35 -> 40) holds
    assert revise_subsidy([[120, 35], [100, 30], [500, 60]], 1.0, _revision()) == [(100, 40.0), (500, 60.0)]
    # amounts to a coarser step: 30 x 1.25 = 37.5 -> 50 (halfway between 25 and 50: up), 60 x 1.25 = 75
    assert revise_subsidy([[100, 30], [500, 60]], 1.25, _revision(subsidy_rounding=25)) == [(100, 50.0), (600, 75.0)]


def _made_economy(baseline, incomes: dict[int, float]) -> Economy:
    """An economy with the given mean incomes, yuan/year, one per year (no growth assumed between)."""
    return Economy(incomes, baseline.economy, min(incomes), max(incomes))


# mean rural income, yuan/year: x1.25 from 2025 to 2030, x2 to 2035 (and 13,000 in 2032)
INCOMES = dict.fromkeys(range(2010, 2030), 10000.0) | {
    2030: 12_500.0,
    2031: 12_800.0,
    2032: 13_000.0,
    2033: 13_500.0,
    2034: 14_000.0,
    2035: 20_000.0,
}


def test_menu_of_a_revision_year_moves_the_last_dated_list_with_income(baseline):
    """Every five years from 2030, relative to 2025: the dated 2014 list and steps hold to 2029; from 2030
    to 2034 they are x1.25 (incomes 12,500 / 10,000); from 2035 x2 (20,000 / 10,000), the lowest subsidy
    rule reaching down to the government-paid grade 100."""
    policy = with_policy(baseline, grade_revision=_revision()).policy
    economy = _made_economy(baseline, INCOMES)
    dated = (list(GRADES_2014), [(100, 30), (500, 60)])
    assert menu_for_year(policy, 2029, economy) == dated
    revised_2030 = ([100, 300, 400, 500, 600, 800, 900, 1000, 1500, 2000, 2500], [(100, 40.0), (600, 80.0)])
    assert menu_for_year(policy, 2030, economy) == revised_2030
    assert menu_for_year(policy, 2034, economy) == revised_2030  # no revision until the next revision year
    # x2: 200 ... 1,000, 1,200->1,000, 1,400->1,500, 1,600->1,500, 1,800->2,000, 2,000, 3,000, 4,000
    assert menu_for_year(policy, 2035, economy) == (
        [200, 400, 600, 800, 1000, 1500, 2000, 3000, 4000],
        [(100, 60.0), (1000, 120.0)],
    )
    resolved = policy_for_year(policy, 2035, 143.0, economy)
    np.testing.assert_array_equal(resolved.subsidies, [60, 60, 60, 60, 120, 120, 120, 120, 120])
    assert resolved.lowest_grade == 200 and resolved.government_paid_subsidy == 60


def test_a_dated_list_wins_from_its_year_and_is_revised_from_its_own_income(baseline):
    """A list dated 2032 holds from 2032 (over the 2030 revision); the 2035 revision moves it by
    income(2035) / income(2032) = 20,000 / 13,000: 200 -> 307.7 -> 300, 500 -> 769.2 -> 800.
    The subsidy steps, dated 2014, stay revised as before."""
    policy = with_policy(
        baseline, grade_revision=_revision(), grades={**baseline.policy.grades, 2032: [200, 500]}
    ).policy
    economy = _made_economy(baseline, INCOMES)
    assert menu_for_year(policy, 2031, economy)[0][:3] == [100, 300, 400]
    assert menu_for_year(policy, 2032, economy) == ([200, 500], [(100, 40.0), (600, 80.0)])
    assert menu_for_year(policy, 2035, economy)[0] == [300, 800]
    # offered over the years: the dated lists, 2030-2031's (2,500 new) and 2035's (within the 2014 list)
    assert offered_grades(policy, economy, range(2011, 2036)) == [*GRADES_2014, 2500]
    assert 3000 in offered_grades(
        with_policy(baseline, grade_revision=_revision()).policy, economy, range(2011, 2036)
    )  # without the 2032 list, 2035 offers 3,000


def test_without_a_rule_or_with_every_0_the_dated_lists_hold(baseline):
    """No revision: the dated values in every year, and no economy needed for them."""
    for rule in (None, _revision(every=0), _revision(every=None)):
        policy = with_policy(baseline, grade_revision=rule).policy
        assert menu_for_year(policy, 2050, None) == (list(GRADES_2014), [(100, 30), (500, 60)])
        assert offered_grades(policy, None, range(2011, 2051)) == list(GRADES_2014)


def test_a_revised_year_without_an_economy_is_an_error(baseline):
    """The grades of a revision year depend on incomes: resolving them without an economy is refused."""
    policy = with_policy(baseline, grade_revision=_revision()).policy
    assert list(policy_for_year(policy, 2029, 143.0).grades) == list(GRADES_2014)
    with pytest.raises(ValueError, match="revised with income"):
        policy_for_year(policy, 2030, 143.0)

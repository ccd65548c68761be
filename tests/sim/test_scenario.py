"""Scenarios as typed: meals every day or once, gaps, events, and refusals that name the fix."""
from __future__ import annotations

import pytest

from handset.errors import InvalidInput
from patient import scenario
from patient.population import select_patients


def test_daily_meals_repeat_and_one_off_meals_land_once() -> None:
    sc = scenario.build("adult#001", days=2, start="06:00", meals=["07:00=40", "05:30=20", "d2 15:00=30"])
    assert [(m.minute, m.grams) for m in sc.meals] == [
        (60, 40), (1410, 20), (1500, 40), (1980, 30), (2850, 20)]
    assert sc.label(1410) == "d2 05:30" and sc.label(0) == "d1 06:00"


def test_gaps_and_events_are_minutes_of_the_run() -> None:
    sc = scenario.build("child#001", hours=24, sensor_out=["d1 23:30-00:30"], occlusions=["d2 01:00"],
                        user_resumes=["d1 07:00"], lgs_mode="predictive", lgs_threshold="4.0 mmol/L")
    assert sc.sensor_out == ((1050, 1110),)  # across midnight
    assert sc.occlusions == (1140,) and sc.user_resumes == (60,)
    assert sc.lgs_threshold == 72 and sc.lgs_mode == "predictive"


def test_defaults_are_three_days_of_three_meals_with_the_patients_basal() -> None:
    sc = scenario.build()
    assert sc.minutes == 3 * 1440 and len(sc.meals) == 9 and sc.basal_pph is None
    assert scenario.build(basal="0.85").basal_pph == 17


@pytest.mark.parametrize("kwargs, sentence", [
    ({"meals": ["7h=40"]}, "is not a time of day"),
    ({"meals": ["07:00"]}, "type HH:MM=GRAMS"),
    ({"meals": ["07:00=500"]}, "a meal is 1–200 g"),
    ({"meals": ["d4 07:00=50"]}, "is after the run ends"),
    ({"days": 1, "hours": 5}, "not both"),
    ({"basal": "9"}, "0.05–3 U/h"),
    ({"bolus": "auto"}, "choose calculator or none"),
    ({"lgs_mode": "maybe"}, "choose off, threshold or predictive"),
    ({"sensor_out": ["d1 13:00"]}, "type it as dN HH:MM-HH:MM"),
])
def test_impossible_scenarios_are_refused_with_a_sentence(kwargs: dict, sentence: str) -> None:
    with pytest.raises(InvalidInput, match=sentence):
        scenario.build("adult#001", **kwargs)


def test_patient_selections() -> None:
    assert len(select_patients("all")) == 30
    assert select_patients("child")[0] == "child#001" and len(select_patients("adult,child#003")) == 11
    with pytest.raises(InvalidInput, match="There is no virtual patient 'kid#1'"):
        select_patients("kid#1")

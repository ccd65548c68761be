"""Parsing what a person types (handset.units): exact pulses from decimal strings, durations, rates."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from handset import units
from handset.errors import InvalidInput


@pytest.mark.parametrize("text, pulses", [
    ("2.35", 47), ("0.05", 1), ("10", 200), ("30", 600), ("2.35U", 47), ("2.35 u", 47), (" 1.5 ", 30),
    ("0.10", 2), ("1.", 20), (".5", 10), ("2.3500", 47), ("0", 0),
])
def test_units_to_pulses(text, pulses):
    assert units.parse_units(text) == pulses


@pytest.mark.parametrize("text, words", [
    ("-1", "negative"), ("-0.05", "negative"), ("2.33", "not a multiple of 0.05 U"), ("0.01", "not a multiple"),
    ("abc", "not a number"), ("", "not a number"), (".", "not a number"), ("1.2.3", "not a number"),
    ("1e3", "not a number"), ("nan", "not a number"), ("inf", "not a number"), ("2,35", "not a number"),
    ("0x10", "not a number"), ("2.35mg", "not a number"),
])
def test_bad_amounts_are_sentences(text, words):
    with pytest.raises(InvalidInput) as info:
        units.parse_units(text, "The bolus")
    message = str(info.value)
    assert words in message and message.startswith("The bolus") and message.endswith(".")
    assert info.value.exit_code == 2


@given(st.integers(0, 10_000))
def test_format_and_parse_are_inverse(pulses):
    assert units.parse_units(units.format_units(pulses, unit=False)) == pulses


@pytest.mark.parametrize("text, minutes", [
    ("30m", 30), ("0.5h", 30), ("1h30m", 90), ("2h", 120), ("90m", 90), ("1.5h", 90), ("12h", 720),
    ("1H 30M", 90), ("45min", 45),
])
def test_durations(text, minutes):
    assert units.parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "30", "h", "1x", "m30", "1h-30m", "0.01h", "-1h", "1h30"])
def test_bad_durations(text):
    with pytest.raises(InvalidInput) as info:
        units.parse_duration(text)
    assert "duration" in str(info.value).lower()


def test_half_hours_for_temp_basal():
    assert units.parse_half_hours("30m") == 1 and units.parse_half_hours("12h") == 24
    for text, words in (("45m", "30-minute steps"), ("12h30m", "out of range"), ("15m", "30-minute steps")):
        with pytest.raises(InvalidInput, match=words):
            units.parse_half_hours(text)


def test_rates_and_temp_percentages():
    assert units.parse_rate("1.2") == 24 and units.parse_rate("0.05U/h") == 1 and units.parse_rate("30 u/h") == 600
    assert units.parse_temp_rate("0.5").resolve(99) == 10
    assert units.parse_temp_rate("50%").resolve(24) == 12
    assert units.parse_temp_rate("+20%").resolve(20) == 24
    assert units.parse_temp_rate("-30%").resolve(20) == 14
    # 1.05 U/h at 50 % = 0.525 U/h: rounded down to a whole pulse per hour (0.50 U/h).
    assert units.parse_temp_rate("50%").resolve(21) == 10
    assert units.parse_temp_rate("0%").resolve(20) == 0
    for bad, words in (("200%", "out of range"), ("+96%", "out of range"), ("-101%", "out of range"),
                       ("abc%", "not understood"), ("1.23", "multiple of 0.05"), ("-1", "negative")):
        with pytest.raises(InvalidInput, match=words):
            units.parse_temp_rate(bad)


def test_grams_and_bg():
    assert units.parse_grams("45") == 450 and units.parse_grams("12.5g") == 125 and units.parse_grams("0.1") == 1
    assert units.parse_bg("145") == 145
    for bad in ("0", "226", "12.55", "-5"):
        with pytest.raises(InvalidInput):
            units.parse_grams(bad)
    for bad in ("19", "601", "1.5", "high"):
        with pytest.raises(InvalidInput):
            units.parse_bg(bad)


def test_basal_programs():
    rates = units.parse_basal_program("00:00=0.8,06:30=1.2,22:00=0.9")
    assert len(rates) == 48 and rates[:13] == [16] * 13 and rates[13:44] == [24] * 31 and rates[44:] == [18] * 4
    assert units.format_program(rates) == "00:00=0.80,06:30=1.20,22:00=0.90"
    assert units.parse_basal_program("00:00=1") == [20] * 48


@pytest.mark.parametrize("text, words", [
    ("", "empty"), ("06:00=1", "must start at 00:00"), ("00:00=1,06:15=2", "half-hour boundary"),
    ("00:00=1,06:00=2,03:00=1", "out of order"), ("00:00=0", "out of range"), ("00:00=31", "out of range"),
    ("00:00=1.23", "multiple of 0.05"), ("00:00", "HH:MM=RATE"), ("24:00=1", "does not exist"),
    ("00:00=1," + ",".join(f"{h:02d}:00=1" for h in range(1, 24)) + ",23:30=1", "at most 24"),
])
def test_bad_basal_programs(text, words):
    with pytest.raises(InvalidInput, match=words):
        units.parse_basal_program(text)


# --- blood glucose in mg/dL or mmol/L -----------------------------------------------------------------

@pytest.mark.parametrize("mg_dl, shown", [
    (20, "1.1"), (54, "3.0"), (70, "3.9"), (100, "5.6"), (120, "6.7"), (140, "7.8"), (180, "10.0"),
    (250, "13.9"), (600, "33.3"),
    (9, "0.5"),  # 0.5 exactly: the half rounds up
])
def test_mmol_display_by_the_stated_rule(mg_dl, shown):
    # mmol/L = mg/dL / 18 to one decimal, half up; the values meters print.
    assert units.format_bg(mg_dl, units.MMOL_L) == f"{shown} mmol/L"
    assert units.format_bg(mg_dl, units.MMOL_L, with_unit=False) == shown
    assert units.format_bg(mg_dl) == f"{mg_dl} mg/dL"


@pytest.mark.parametrize("typed, mg_dl", [
    ("5.6", 101), ("7.8", 140), ("10", 180), ("10.0", 180), ("3.9", 70), ("1.1", 20), ("33.3", 599),
    ("7.8 mmol/L", 140), ("7.8mmol", 140),
])
def test_mmol_input_by_the_stated_rule(typed, mg_dl):
    # mg/dL = mmol/L x 18, half up: 5.6 x 18 = 100.8 -> 101, 7.8 x 18 = 140.4 -> 140.
    assert units.parse_bg(typed, units.MMOL_L) == mg_dl


def test_conversion_is_integer_and_round_trips_within_one_mg_dl():
    for mg_dl in range(units.BG_MIN_MGDL, units.BG_MAX_MGDL + 1):
        tenths = units.mgdl_to_mmol_tenths(mg_dl)
        assert isinstance(tenths, int)
        # 18 mg/dL per mmol/L: the nearest tenth, never more than half a tenth (0.9 mg/dL) away.
        assert abs(tenths * 18 - mg_dl * 10) <= 9
        assert abs(units.mmol_tenths_to_mgdl(tenths) - mg_dl) <= 1
    for tenths in range(11, 334):  # every value a person can type comes back unchanged
        assert units.mgdl_to_mmol_tenths(units.mmol_tenths_to_mgdl(tenths)) == tenths


def test_a_typed_unit_wins_over_the_setting():
    assert units.parse_bg("140 mg/dL", units.MMOL_L) == 140
    assert units.parse_bg("7.8 mmol/l", units.MG_DL) == 140


@pytest.mark.parametrize("typed, unit, words", [
    ("34", units.MMOL_L, "out of range: the meter reads 1.1 to 33.3 mmol/L"),
    ("1.0", units.MMOL_L, "1.0 mmol/L is out of range"),
    ("7.85", units.MMOL_L, "more than one decimal"),
    ("7.8", units.MG_DL, r"not a whole number of mg/dL: type it like 145, or give mmol/L with its unit"),
    ("601", units.MG_DL, "out of range: the meter reads 20 to 600 mg/dL"),
    ("high", units.MMOL_L, "not a number"),
    ("-5", units.MMOL_L, "negative"),
])
def test_bad_bg_input_says_what_to_type(typed, unit, words):
    with pytest.raises(InvalidInput, match=words):
        units.parse_bg(typed, unit)


def test_bg_unit_spellings():
    assert units.parse_bg_unit("mmol/L") == units.parse_bg_unit(" MMOL ") == units.MMOL_L
    assert units.parse_bg_unit("mg/dl") == units.parse_bg_unit("mgdl") == units.MG_DL
    with pytest.raises(InvalidInput, match="type mg/dL or mmol/L"):
        units.parse_bg_unit("mol")

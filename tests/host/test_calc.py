"""Bolus calculator (handset.calc): worked examples computed by hand from SAFETY-NOTES R5.12/R5.13.

Default settings throughout unless a test says otherwise: target 120 mg/dL, correct above
150 mg/dL, carb ratio 15 g/U, correction factor 50 mg/dL/U, DIA 4 h, minimum BG 70 mg/dL,
reverse correction off, max bolus 10 U (200 pulses). 1 pulse = 0.05 U, so 1 U = 20 pulses.
"""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings as hsettings, strategies as st

from handset import calc
from handset.settings import Settings

NOW = 1_700_000_000
S = Settings()


def suggest(**kwargs):
    kwargs.setdefault("now_s", NOW)
    if "bg_mgdl" in kwargs:
        kwargs.setdefault("bg_time_s", NOW)
    return calc.suggest(kwargs.pop("settings", S), **kwargs)


def test_meal_plus_correction():
    # meal 45 g / 15 g/U = 3 U = 60 pulses; correction (180 - 120) / 50 = 1.2 U = 24 pulses; total 84 = 4.20 U.
    s = suggest(carbs_tenths_g=450, bg_mgdl=180)
    assert (s.pulses, s.meal_pulses, s.correction_pulses) == (84, 60, 24)
    assert s.steps_milliunits == {"meal": 3000, "correction": 1200, "total": 4200}


def test_suggestion_rounds_down():
    # 20 g / 15 = 1.3333 U = 26.67 pulses; BG 100 is below correct-above: no correction; floor -> 26 = 1.30 U.
    assert suggest(carbs_tenths_g=200, bg_mgdl=100).pulses == 26


def test_rounding_happens_once_on_the_sum():
    # CF 45: meal 10 g / 15 = 13.333 pulses; correction (160 - 120) / 45 U = 0.8889 U = 17.778 pulses.
    # Sum 31.11 -> 31 pulses (1.55 U); flooring each part first would give 13 + 17 = 30.
    s = suggest(settings=replace(S, correction_factor=45), carbs_tenths_g=100, bg_mgdl=160)
    assert (s.pulses, s.correction_pulses, s.meal_pulses) == (31, 17, 14)


def test_no_correction_at_or_below_correct_above():
    # BG 150 = correct-above: no correction although above the target; BG 151: (151 - 120) / 50 = 0.62 U = 12.4 -> 12.
    assert suggest(bg_mgdl=150).pulses == 0
    assert suggest(bg_mgdl=151).pulses == 12


def test_iob_decays_linearly_and_rounds_up():
    # 10 correction pulses 100 min ago, DIA 240 min: 10 * 140/240 = 5.83 -> rounded up to 6 pulses (0.30 U).
    iob = calc.insulin_on_board([calc.BolusRecord(NOW - 6000, 0, 10)], NOW, 240)
    assert (iob.meal_pulses, iob.correction_pulses) == (0, 6)
    # After the full DIA nothing is left; a record from the future counts in full.
    assert calc.insulin_on_board([calc.BolusRecord(NOW - 240 * 60, 40, 20)], NOW, 240).total_pulses == 0
    assert calc.insulin_on_board([calc.BolusRecord(NOW + 60, 40, 20)], NOW, 240).total_pulses == 60


def test_meal_iob_only_from_correction_then_correction_iob_from_meal():
    # Earlier bolus 60 min ago: meal 40, correction 20 pulses; 3/4 left -> meal IOB 30, correction IOB 15.
    records = [calc.BolusRecord(NOW - 3600, 40, 20)]
    # Now: 30 g -> 2 U = 40 pulses; BG 200 -> (200 - 120) / 50 = 1.6 U = 32 pulses.
    # Meal IOB 30 off the correction: 32 - 30 = 2. Correction IOB 15: 2 off the correction (-> 0),
    # the remaining 13 off the meal: 40 - 13 = 27 pulses = 1.35 U.
    s = suggest(carbs_tenths_g=300, bg_mgdl=200, records=records)
    assert (s.iob.meal_pulses, s.iob.correction_pulses) == (30, 15)
    assert (s.pulses, s.meal_pulses, s.correction_pulses) == (27, 27, 0)


def test_meal_iob_never_reduces_the_meal():
    # Only meal IOB (40 meal pulses 60 min ago -> 30); BG 140: no correction; the new meal 40 pulses stays whole.
    s = suggest(carbs_tenths_g=300, bg_mgdl=140, records=[calc.BolusRecord(NOW - 3600, 40, 0)])
    assert s.iob.meal_pulses == 30 and s.pulses == 40


def test_iob_is_not_subtracted_without_a_current_bg():
    # Correction IOB 15 pulses, 30 g -> 40 pulses; no BG entered -> IOB not used: 40 pulses.
    records = [calc.BolusRecord(NOW - 3600, 0, 20)]
    s = suggest(carbs_tenths_g=300, records=records)
    assert s.pulses == 40 and not s.iob_used and s.iob.correction_pulses == 15
    # The same with BG 120 (known, at target): 40 - 15 = 25 pulses.
    assert suggest(carbs_tenths_g=300, bg_mgdl=120, records=records).pulses == 25


def test_reverse_correction_only_when_enabled_and_only_on_a_meal():
    on = replace(S, reverse_correction=1)
    # 30 g -> 40 pulses; BG 95: (95 - 120) / 50 = -0.5 U = -10 pulses -> 30 pulses = 1.50 U.
    assert suggest(settings=on, carbs_tenths_g=300, bg_mgdl=95).pulses == 30
    assert suggest(settings=S, carbs_tenths_g=300, bg_mgdl=95).pulses == 40
    # No meal: nothing to reduce and never negative.
    assert suggest(settings=on, bg_mgdl=95).pulses == 0
    # 5 g -> 6.67 pulses; BG 71 with CF 50: -0.98 U = -19.6 pulses -> meal clamps at 0.
    assert suggest(settings=on, carbs_tenths_g=50, bg_mgdl=71).pulses == 0


def test_no_suggestion_below_minimum_bg():
    s = suggest(carbs_tenths_g=600, bg_mgdl=69)
    assert s.pulses is None and "below the minimum" in (s.refusal or "")
    assert suggest(carbs_tenths_g=600, bg_mgdl=70).pulses == 80  # 60 g / 15 = 4 U


def test_bg_older_than_five_minutes_is_not_used():
    records = [calc.BolusRecord(NOW - 3600, 0, 20)]
    # 15 g -> 20 pulses. BG 250 taken 301 s ago: ignored, and so is the IOB (BG unknown): 20 pulses.
    old = calc.suggest(S, carbs_tenths_g=150, bg_mgdl=250, bg_time_s=NOW - 301, now_s=NOW, records=records)
    assert old.pulses == 20 and any("older than 5 minutes" in n for n in old.notes)
    # Exactly 300 s old is still used: correction (250 - 120) / 50 = 2.6 U = 52; minus correction IOB 15 -> 37; +20 = 57.
    fresh = calc.suggest(S, carbs_tenths_g=150, bg_mgdl=250, bg_time_s=NOW - 300, now_s=NOW, records=records)
    assert fresh.pulses == 57


def test_capped_at_max_bolus():
    # 225 g / 10 g/U = 22.5 U = 450 pulses, capped at the 10-U max (200 pulses).
    s = suggest(settings=replace(S, carb_ratio=10), carbs_tenths_g=2250, bg_mgdl=110)
    assert s.pulses == 200 and any("capped" in n for n in s.notes)


def test_blocked_while_a_bolus_is_unconfirmed():
    s = suggest(carbs_tenths_g=300, bg_mgdl=150, unconfirmed=True)
    assert s.pulses is None and "unconfirmed" in (s.refusal or "")


@hsettings(max_examples=300, deadline=None)
@given(carbs=st.integers(0, 2250), bg=st.one_of(st.none(), st.integers(20, 600)),
       ic=st.integers(1, 150), cf=st.integers(1, 400), reverse=st.integers(0, 1),
       history=st.lists(st.tuples(st.integers(0, 400 * 60), st.integers(0, 600), st.integers(0, 600)), max_size=4))
def test_suggestion_is_bounded_and_never_above_the_exact_dose(carbs, bg, ic, cf, reverse, history):
    settings = replace(S, carb_ratio=ic, correction_factor=cf, reverse_correction=reverse)
    records = [calc.BolusRecord(NOW - age, meal, corr) for age, meal, corr in history]
    s = suggest(settings=settings, carbs_tenths_g=carbs, bg_mgdl=bg, records=records)
    if bg is not None and bg < settings.min_bg:
        assert s.pulses is None
        return
    assert s.pulses is not None and 0 <= s.pulses <= settings.max_bolus
    assert s.meal_pulses >= 0 and s.correction_pulses >= 0 and s.meal_pulses + s.correction_pulses == s.pulses
    # Never more than meal + correction without IOB, computed here in cross-multiplied integers:
    # pulses <= carbs/10/ic*20 + max(0, bg - target)/cf*20.
    correction_num = (bg - settings.target) * 20 if bg is not None and bg > settings.correct_above else 0
    assert s.pulses * 10 * ic * cf <= carbs * 20 * cf + correction_num * 10 * ic


# --- the blood-glucose unit setting ------------------------------------------------------------------

def test_bg_unit_setting_is_stored_and_shown(tmp_path):
    from handset import units
    from handset.errors import InvalidInput
    import pytest

    settings = Settings().with_value("bg_unit", "mmol/L")
    settings.save(tmp_path)
    loaded = Settings.load(tmp_path)
    assert loaded.bg_unit == units.MMOL_L
    shown = {name: (value, meaning) for name, value, meaning in loaded.describe()}
    assert shown["bg_unit"][0] == "mmol/L"
    assert shown["target"] == ("6.7 mmol/L", "target blood glucose (6.1–8.3 mmol/L)")
    assert shown["correction_factor"][0] == "2.8 mmol/L/U"
    # BG settings are typed in the person's unit and stored in whole mg/dL.
    changed = loaded.with_value("target", "6.1").with_value("correct_above", "8.9").with_value("min_bg", "3.5")
    assert (changed.target, changed.correct_above, changed.min_bg) == (110, 160, 63)
    with pytest.raises(InvalidInput, match=r"The target 9.0 mmol/L is out of range: use 6.1–8.3 mmol/L"):
        loaded.with_value("target", "9")
    with pytest.raises(InvalidInput, match=r"Correct above \(6.1 mmol/L\) is below the target \(6.7 mmol/L\)"):
        loaded.with_value("correct_above", "6.1")
    with pytest.raises(InvalidInput, match="type mg/dL or mmol/L"):
        loaded.with_value("bg_unit", "mol")
    # A damaged unit in the file is refused with a sentence, not used.
    (tmp_path / "settings.json").write_text('{"bg_unit": "furlongs"}')
    with pytest.raises(InvalidInput, match="bg_unit = 'furlongs' is not known"):
        Settings.load(tmp_path)


def test_calculator_in_mmol_matches_mg_dl():
    mmol = replace(S, bg_unit="mmol/L")
    # 10.0 mmol/L = 180 mg/dL: the worked example above, typed in mmol/L.
    bg = calc.read_bg(mmol, "10.0")
    assert bg == 180
    s = suggest(settings=mmol, carbs_tenths_g=450, bg_mgdl=bg)
    assert (s.pulses, s.meal_pulses, s.correction_pulses) == (84, 60, 24)
    items = dict(calc.suggestion_items(s, mmol, 450, bg))
    assert items["blood glucose"] == "10.0 mmol/L"
    assert items["target"] == "6.7 mmol/L (correct above 8.3 mmol/L)"
    assert items["BG drop per U"] == "2.8 mmol/L"  # the correction factor
    assert items["suggested bolus"] == "4.20 U (meal 3.00 U, correction 1.20 U)"
    assert dict(calc.suggestion_items(s, S, 450, bg))["blood glucose"] == "180 mg/dL"


def test_low_bg_refusal_speaks_the_persons_unit():
    mmol = replace(S, bg_unit="mmol/L")
    s = suggest(settings=mmol, carbs_tenths_g=300, bg_mgdl=calc.read_bg(mmol, "3.5"))
    assert s.pulses is None
    assert s.refusal is not None and s.refusal.startswith(
        "Blood glucose 3.5 mmol/L is below the minimum for calculations (3.9 mmol/L)")

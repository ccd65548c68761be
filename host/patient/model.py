"""The virtual patient: simglucose's UVA/Padova T1D model, fed whole pulses at their minute.

Doses stay integer pulses (0.05 U) up to this boundary; the model is physiology and takes a rate
in U/min, so the conversion to a float happens here and nowhere else.
"""
from __future__ import annotations

import functools
import importlib.resources
import types
from dataclasses import dataclass

import numpy as np

from handset.errors import InvalidInput

UNITS_PER_PULSE = 0.05  # physiology input only: never used to count a dose


def simglucose_module(name: str) -> types.ModuleType:
    """Import a simglucose module; its old gym dependency's deprecation warnings are not ours to show."""
    import importlib
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


@functools.cache
def _params_table(name: str) -> "object":
    import pandas as pd
    package = simglucose_module("simglucose")
    with importlib.resources.as_file(importlib.resources.files(package) / "params" / name) as path:
        return pd.read_csv(path)


@functools.cache
def patient_names() -> tuple[str, ...]:
    """The 30 virtual patients of the model (10 adolescents, 10 adults, 10 children)."""
    table = _params_table("vpatient_params.csv")
    return tuple(str(n) for n in table["Name"])  # type: ignore[index]


def check_patient(name: str) -> str:
    """The name if it is a known patient; otherwise InvalidInput with a sentence."""
    if name not in patient_names():
        raise InvalidInput(f"There is no virtual patient {name!r}: choose one of adolescent#001..010, "
                           "adult#001..010 or child#001..010 (`handset sim --list-patients`).")
    return name


@dataclass(frozen=True)
class Therapy:
    """The patient's own pump settings, derived from the model's published parameters."""

    basal_pph: int          # steady-state basal, pulses per hour
    carb_ratio: int         # g per U
    correction_factor: int  # mg/dL per U
    total_daily_units: int


def therapy_for(name: str) -> Therapy:
    """Basal from the model's steady-state insulin (u2ss, body weight); CR, CF and TDI from the
    model's published therapy table (Quest.csv)."""
    check_patient(name)
    vp = _params_table("vpatient_params.csv")
    quest = _params_table("Quest.csv")
    row = vp[vp["Name"] == name].iloc[0]  # type: ignore[index]
    q = quest[quest["Name"] == name].iloc[0]  # type: ignore[index]
    # u2ss is pmol/(L·kg) per minute; × BW / 6000 gives U/min, × 60 U/h, × 20 pulses/h.
    basal_pph = max(1, round(float(row["u2ss"]) * float(row["BW"]) / 6000 * 60 * 20))
    return Therapy(basal_pph, max(1, round(float(q["CR"]))), max(1, round(float(q["CF"]))),
                   round(float(q["TDI"])))


class VirtualPatient:
    """One patient, stepped one minute at a time with the pulses that reached it in that minute."""

    def __init__(self, name: str, seed: int) -> None:
        T1DPatient = simglucose_module("simglucose.patient.t1dpatient").T1DPatient
        check_patient(name)
        self.name = name
        table = _params_table("vpatient_params.csv")
        row = table[table["Name"] == name].iloc[0]  # type: ignore[index]
        # The model reads its ~50 parameters by attribute inside the ODE right-hand side, thousands
        # of times a minute; a plain namespace answers that far faster than a pandas Series, and
        # the initial state (the row's x0 columns) is handed over explicitly.
        params = types.SimpleNamespace(**row.to_dict())
        init_state = np.array([float(row[c]) for c in table.columns if str(c).startswith("x0_")])  # type: ignore[union-attr]
        self._model = T1DPatient(params, init_state=init_state, seed=seed)
        self._action = simglucose_module("simglucose.patient.t1dpatient").Action
        self.minute = 0

    @property
    def model(self) -> "object":
        """The simglucose patient (the CGM sensor reads it)."""
        return self._model

    def glucose(self) -> float:
        """Subcutaneous glucose, mg/dL (what the model observes and the sensor measures)."""
        return float(self._model.observation.Gsub)

    def step_minute(self, pulses: int, carbs_g: int) -> float:
        """Advance one minute: `pulses` pushed by the pod in this minute, `carbs_g` eaten from now."""
        self._model.step(self._action(CHO=carbs_g, insulin=pulses * UNITS_PER_PULSE))
        self.minute += 1
        return self.glucose()

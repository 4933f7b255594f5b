"""Tissue physics: conductivity models, permeabilisation and survival, thermal properties."""

from epsim.physics.conductivity import (
    Conductivity,
    Constant,
    FieldMemory,
    Logistic,
    Ramp,
    RegionConductivity,
    SmoothStep,
    conductivity_and_slope,
    smooth_heaviside,
)
from epsim.physics.cell_death import (
    EquivalentPulses,
    IndependentPairs,
    PelegFermi,
    critical_field,
    permeabilisation,
    permeabilisation_gompertz,
    survival,
    survival_monotone,
    survival_sequence,
)
from epsim.physics.thermal import (
    Arrhenius,
    TemperatureConductivity,
    ThermalTissue,
    arrhenius_rate,
    damaged_fraction,
    temperature_factor,
)

__all__ = [
    "Arrhenius",
    "Conductivity",
    "Constant",
    "EquivalentPulses",
    "FieldMemory",
    "IndependentPairs",
    "Logistic",
    "PelegFermi",
    "Ramp",
    "RegionConductivity",
    "SmoothStep",
    "TemperatureConductivity",
    "ThermalTissue",
    "arrhenius_rate",
    "conductivity_and_slope",
    "critical_field",
    "damaged_fraction",
    "permeabilisation",
    "permeabilisation_gompertz",
    "smooth_heaviside",
    "survival",
    "survival_monotone",
    "survival_sequence",
    "temperature_factor",
]

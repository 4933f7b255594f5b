"""Tissue physics: conductivity models (and later permeabilisation, survival, heating)."""

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

__all__ = [
    "Conductivity",
    "Constant",
    "FieldMemory",
    "Logistic",
    "Ramp",
    "RegionConductivity",
    "SmoothStep",
    "conductivity_and_slope",
    "smooth_heaviside",
]

"""Calibration of tissue conductivity to measured pulse currents (`epsim calibrate`).

Layers: `measurements` (the CSV reader, strict), `parameters` (what is fitted, log-normal priors,
the conductivity they give), `forward` (log currents and their Jacobian through the implicit
adjoint), `fit` (MAP by Levenberg-Marquardt, Laplace posterior, identifiability), `problem` (a
config on its mesh with its measurements).
"""

"""Calibration of tissue conductivity to measured pulse currents (`epsim calibrate`;
docs/calibration.md).

    from epsim.calibrate.run import run_calibration
    report = run_calibration("plan.yaml", "currents.csv", "fit/")   # writes fit/*, returns text

Modules, lowest first: `measurements` (the CSV reader, strict), `parameters` (what is fitted,
log-normal priors, the conductivity they give), `forward` (log currents and their Jacobian
through the implicit adjoint), `fit` (MAP by Levenberg-Marquardt, Laplace posterior,
identifiability), `problem` (a config on its mesh with its measurements); the edge modules
`output` (materials.yaml, posterior.h5), `report` (the text), `run` (the command) and
`command` (its arguments).
"""

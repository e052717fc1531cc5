"""Predictive scoring: the probability that a lead converts, learned from the company's
own won and lost leads, with each lead's reasons. Pure code (no database):
:mod:`~scoring.predictive.features` (leads as numbers), :mod:`~scoring.predictive.training`
(choosing, fitting and calibrating the model), :mod:`~scoring.predictive.model` (a trained
model: probabilities and reasons) and :mod:`~scoring.predictive.points` (suggested rule
points). Services in :mod:`scoring.services.predictive` read and write the tables."""

"""The experiment runner: the library behind the commands in ``experiments/``.

Configuration and its ``key=value`` grammar (:mod:`runner.config`,
:mod:`runner.options`, :mod:`runner.cli`), training and evaluation
(:mod:`runner.training`, :mod:`runner.metrics`, :mod:`runner.latency`), one
run (:mod:`runner.experiment`), sweeps (:mod:`runner.sweep`) and the reports
read from their records (:mod:`runner.report`, :mod:`runner.significance`,
:mod:`runner.figures`).
"""

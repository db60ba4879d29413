"""The experiment runner: the library behind the commands in ``experiments/``.

Configuration and its ``key=value`` grammar (:mod:`runner.config`,
:mod:`runner.options`, :mod:`runner.cli`, :mod:`runner.graph_choices`),
training and evaluation (:mod:`runner.training`, :mod:`runner.metrics`,
:mod:`runner.latency`, :mod:`runner.evaluation`), one run
(:mod:`runner.experiment` orchestrating :mod:`runner.setup`,
:mod:`runner.graph_check` and :mod:`runner.outputs`), its typed record
(:mod:`runner.record`), a checkpoint's predictions
(:mod:`runner.predictions`), live replay (:mod:`runner.replay`), sweeps
(:mod:`runner.sweep` over :mod:`runner.launchers`) and the reports read
from their records (:mod:`runner.report`, :mod:`runner.significance`,
:mod:`runner.figures`, :mod:`runner.study`).
"""

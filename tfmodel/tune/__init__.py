"""Hyperparameter search over the config with KerasTuner, scored on the validation split.

Layers, top to bottom:
    cli.py      `python -m tfmodel.tune`: flags, the search, the report, the one test evaluation
    report.py   trials table and CSV, objective-vs-trial plot, best_config.yaml
    search.py   KerasTuner tuners driving training's own model, compile recipe and pipelines
    space.py    the config's `tune.space` as KerasTuner hyperparameters, and back to a config
"""

"""Training's library: what `python -m tfmodel.train` runs, one module per step, in the order run.

    setting.py     the strategy and precision (start_strategy, shared with tuning), then the splits
                   and the batches model.fit draws (fit_data: `FitBatches`; eval_data): a `Setting`
    run_folder.py  which run folder to write or resume (a `RunFolder`), created only once the
                   model is built, with an image folder's split record
    fitting.py     the model built and compiled in the strategy's scope, then model.fit per phase
                   with the backups that make a restart exact
    recording.py   the test split evaluated, the model saved, the run recorded (metrics, export,
                   model card) and its summary printed

`tfmodel.train` calls these in this order from `train()`. As there, TensorFlow is imported inside
the functions that need it, so `--help` and a config error answer at once.
"""

"""Training: a config → a run folder (model, metrics, export, model card), top to bottom.

Commands (each a thin command line over the library below it):
    train.py       `python -m tfmodel.train`: flags and `train()` over training/ below
    tune/          `python -m tfmodel.tune`: KerasTuner search over the config, then its report
    export/        `python -m tfmodel.export MODEL`: the SavedModel TF Serving loads (library + CLI)
    explain.py     `python -m tfmodel.explain RUN`: attributions and the test confusion
    env.py         `python -m tfmodel.env`: what this machine offers training (devices, packages)
    sign.py        `python -m tfmodel.sign`: keys, and OpenSSF model-signing of a folder
    flags.py       the flags train and tune share; tables.py, the summary table they print
The training core:
    training/      train's steps: setting (strategy, data) → run folder → fitting → recording
    config.py      typed dataclass config: defaults ← YAML ← --set, written into each run
    run_name.py    a run's name when the config gives none: <data>_<model>
    data/          sources by URI, splits, the tf.data pipelines
    models/        built-in, named (keras.applications) and the user's own networks; compiling
    regularizers.py  kernel L1/L2/L1L2
    optimizers/    the project's SGD, Adam, RMSprop: one rule each, a class for each Keras
    resume.py      exact resume: backups, the epoch's data order, callback state
    runs.py        the run folder's contract: who writes and who reads each file
    files.py       files written beside themselves and renamed into place
Rooms the core uses:
    brought/       the door: MODEL (run folder, .keras, SavedModel) → one description, its card
    distribute/    tf.distribute strategies for CPU, GPU, TPU, clusters; the hardware found
    analysis/      the model card, integrated gradients, the confusion matrix
Under everything:
    backend.py     the one place TensorFlow and Keras (tf_keras) are imported, quietly
    keras3.py      the one place Keras 3 (`import keras`) is imported, for models users bring
    quiet.py       native stderr held during noisy steps; --verbose brings it back
    errors.py      UserError: one line and exit 2 for bad input

tfmodel imports neither `serving` nor `edge` (a contract `make lint` checks): they consume what
it writes to disk and may call its public functions.
"""

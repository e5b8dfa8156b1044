"""Export a trained run as a SavedModel that TensorFlow Serving loads as it is.

- `saved_model`: the library: the export layout, its signatures, warmup records, models.config
  and version numbers (`export_for_serving`)
- `cli`: `python -m tfmodel.export RUN_DIR`, a thin command line over `saved_model`
- `__main__`: runs `cli.main`

The publish gate that puts a run into a live model base is on the serving side:
`python -m serving.publish RUN BASE` (`serving/publish/`).
"""

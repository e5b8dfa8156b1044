"""Export a model (a run's, or one the user brings) as a SavedModel TF Serving loads as it is.

- `cli`: `python -m tfmodel.export MODEL`, a thin command line over `saved_model`
- `saved_model`: the library: the export layout, its signatures, warmup records, the model card,
  models.config and version numbers (`export_model` of a `tfmodel.brought` description;
  `export_for_serving` of a model training holds)
- `__main__`: runs `cli.main`

The publish gate that puts a model into a live model base is on the serving side:
`python -m serving.publish MODEL BASE` (`serving/publish/`).
"""

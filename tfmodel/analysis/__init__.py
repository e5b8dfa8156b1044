"""Looking into a trained run: `python -m tfmodel.explain` and the model card use these.

- `model_card`: model_card.md for a run (data, model, training, test, export and edge sections)
- `integrated_gradients`: per-pixel attributions of a prediction (our own implementation)
- `confusion`: the test split's confusion matrix, its plot and its most-confused pairs
"""

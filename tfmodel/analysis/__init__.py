"""Analysis of a trained run."""

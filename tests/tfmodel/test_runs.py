"""The run folder's history.csv as tfmodel.runs reads it back."""

from __future__ import annotations

from tfmodel import runs

NO_VALIDATION = """epoch,accuracy,loss,val_accuracy,val_loss
0,0.5,1.2,NA,NA
1,0.7,0.9,NA,NA
"""


def test_a_run_without_validation_has_its_curves_and_final_metrics(tmp_path):
    (tmp_path / runs.HISTORY_FILE).write_text(NO_VALIDATION)
    assert runs.last_epoch_row(tmp_path) == {"epoch": "1", "accuracy": "0.7", "loss": "0.9"}
    runs.plot_history(tmp_path / runs.HISTORY_FILE, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")

"""`tfmodel.sign` on a real export: `export_for_serving(sign_key=...)` signs before the rename.

The attacks on signed folders, and the device verifier's agreement, are in
tests/edge/test_edge_signature.py; the server's refusal in tests/serving/server/.
"""

import numpy as np
import pytest

from tfmodel import sign
from tfmodel.backend import keras
from tfmodel.config import Config
from tfmodel.errors import UserError
from tfmodel.export import saved_model


def test_export_with_a_sign_key_is_signed_when_it_appears(tmp_path):
    sign.generate_key_pair(tmp_path / "k", tmp_path / "k.pub")
    inputs = keras.Input(shape=(8, 8, 1), name="pixels")
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    config = Config()
    config.export.model_name = "digits"
    examples = np.zeros((2, 8, 8, 1), np.float32)
    version = saved_model.export_for_serving(
        model, config, examples, export_base=tmp_path / "export", sign_key=tmp_path / "k"
    )
    assert (version / sign.SIGNATURE_FILE).is_file()
    sign.verify_model(version, tmp_path / "k.pub")
    assert {p.name for p in (tmp_path / "export").iterdir()} == {"digits", "models.config"}
    (version / "saved_model.pb").write_bytes(b"swapped")
    with pytest.raises(UserError, match="saved_model.pb was changed"):
        sign.verify_model(version, tmp_path / "k.pub")


def test_a_bad_signing_key_is_a_user_error(tmp_path):
    (tmp_path / "k").write_text("not a key")
    (tmp_path / "m").mkdir()
    with pytest.raises(UserError, match="cannot sign"):
        sign.sign_model(tmp_path / "m", tmp_path / "k")

"""The names an edge folder's files agree on, on the computer that writes it and on the device.

Named once here (the device folder imports nothing from training, so `tfmodel.sign` and the
export name `model.sig` and `serving_default` again on their side of the import rule).
"""

MANIFEST = "model.json"  # beside the models: labels, preprocessing, each file's sha256
SIGNATURE = "serving_default"  # the one signature every .tflite carries
SIGNATURE_FILE = "model.sig"  # OpenSSF model-signing's bundle over the folder (tfmodel.sign)

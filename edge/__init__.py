"""The edge stage: a finished run → pruned, quantized `.tflite` files → predictions on a device.

Top to bottom, on the computer that trained (TensorFlow):
    optimize.py    `python -m edge.optimize RUN_DIR`: the variants, model.json, report → edge/
    prune.py       magnitude pruning to `edge.target_sparsity` (tfmot), then fine-tuning
    qat.py         quantization-aware fine-tuning (tfmot), for the `qat_int8` variant
    encrypt.py     `python -m edge.encrypt keygen | encrypt DIR`: seal the files with a key
    finetune.py    wrap the Dense/Conv layers and fine-tune with training's own recipe
    convert.py     Keras → `.tflite` bytes: float32, dynamic range, float16, int8
    report.py      accuracy, size, latency per variant: report.json, report.md, the chart
On the device (DEVICE_FILES: no TensorFlow, no `tfmodel`; numpy, a TFLite interpreter, Pillow):
    predict.py     `python -m edge.predict MODEL INPUT...`: classes and probabilities
    benchmark.py   `python -m edge.benchmark MODEL...`: single-example latency
    cli.py         the interpreter flags and error report both share
    manifest.py    model.json, labels.txt, samples.npz: written by optimize, read on the device
    runtime.py     EdgeModel: check the sha256, load, quantize in, run, dequantize out
    quantize.py    float ⇄ int8 for runtime.py: the book's rounding, in as few numpy calls as can be
    signature.py   check model.sig (tfmodel.sign's model-signing bundle) with `cryptography` alone
    crypto.py      encrypted files (AES-256-GCM): the format, opened in memory only
"""

# What a device needs from this folder: README's copy-to-the-Pi step and device/check.sh copy these.
DEVICE_FILES = (
    "__init__.py",
    "runtime.py",
    "quantize.py",
    "manifest.py",
    "cli.py",
    "predict.py",
    "benchmark.py",
    "signature.py",
    "crypto.py",
    "requirements-device.txt",
)

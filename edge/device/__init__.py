"""What runs on the device: the one folder a Raspberry Pi gets (docs/devices.md, device/check.sh).

No TensorFlow and no `tfmodel` here (a contract in `make lint`); numpy, a TFLite interpreter and
Pillow, and `cryptography` for signed folders. Top to bottom:
    predict.py     `python -m edge.device.predict MODEL INPUT...`: classes and probabilities
    benchmark.py   `python -m edge.device.benchmark MODEL...`: init, first call, p50/p99, memory
                   per XNNPACK thread count, Interpreter and CompiledModel
    cli.py         the interpreter flags and error report both share
    manifest.py    model.json, labels.txt, samples.npz: written by edge.optimize, read here
    runtime.py     EdgeModel: check the sha256, load, quantize in, run, dequantize out
    compiled.py    LiteRT 2.x's CompiledModel for float-I/O files (CPU; GPU/NPU where present)
    cpu.py         this CPU's name and int8 dot-product flags, read from /proc/cpuinfo at run time
    quantize.py    float ⇄ int8 for runtime.py: the book's rounding, in as few numpy calls as can be
    crypto.py      encrypted files (AES-256-GCM): the format, opened in memory only
    errors.py      EdgeError, the device side's one user error
    names.py       model.json, serving_default, model.sig: the names both sides agree on
    quiet.py       hold the converter's and interpreter's C++ stderr; `--verbose` shows it
    signature.py   check model.sig (tfmodel.sign's model-signing bundle) with `cryptography` alone
    requirements-device.txt   the device's pip install

On a Pi the folder sits at `edge/device/` with no `edge/__init__.py` beside it: `edge` is then a
namespace package and `python -m edge.device.predict` works as it does here.
"""

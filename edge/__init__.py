"""The edge stage: a model (a run, a `.keras` file, a SavedModel) → pruned, quantized `.tflite`
files → predictions on a device.

Top to bottom, on the computer that trained (TensorFlow):
    optimize.py    `python -m edge.optimize MODEL`: the door's description (tfmodel.brought) →
                   the variants, model.json, the report that recommends one → an edge folder
    variants.py    its first steps: the source models (float, pruned, QAT, where the model's
                   Keras allows), one `.tflite` per variant with metadata, int8 from the more
                   accurate quantizer
    prune.py       magnitude pruning to `edge.target_sparsity` (tfmot), then fine-tuning
    prune_keras3.py  the same for Keras 3 models (no library does it): masks on every kernel,
                   depthwise too, applied after every optimizer step, stripped at the end
    sparsity.py    what both pruners share: TFMOT's schedule, zero counts, a `.tflite`'s counts
    qat.py         quantization-aware fine-tuning (tfmot), for the `qat_int8` variant
    encrypt.py     `python -m edge.encrypt keygen | encrypt DIR`: seal the files with a key
    finetune.py    wrap the Dense/Conv layers and fine-tune as training fits: its streamed
                   batches, recipe and backups (a killed edge.optimize resumes)
    convert.py     a TF-callable giving probabilities → `.tflite` bytes: float32, dynamic range,
                   float16, int8 (float I/O), int8_io; one line for an op only Flex runs
    metadata.py    TFLite Model Metadata into the files, via write_metadata.py in .venv-metadata
    write_metadata.py  the tflite-support script that helper venv runs (imports nothing of ours)
    report.py      accuracy, size, latency per variant: report.json, report.md, the chart, the
                   file to ship on this CPU
    card.py        a brought model's model_card.md beside its files: the door's card + the report
In a browser, `web/`: a static page where MediaPipe Tasks for Web runs a file with that metadata
(`python -m edge.web MODEL` serves it; a phone's browser runs the same page).
On the device, `device/`: the one folder a Pi or phone gets (no TensorFlow, no `tfmodel`; numpy, a
TFLite interpreter, Pillow). The computer's side imports it; it imports nothing from here.
"""

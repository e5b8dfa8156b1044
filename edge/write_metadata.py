"""Embed TFLite Model Metadata in a `.tflite`: `python edge/write_metadata.py MODEL INFO.json`.

Runs in the helper venv `.venv-metadata` (`make metadata-venv`: tflite-support 0.4.4, which needs
numpy<2 and so cannot share the project's venv); `edge.metadata` calls it as a subprocess. It
imports nothing from this project. INFO.json holds what to write (see `edge.metadata.describe`):
name, description, version, author, license, labels, image width/height, colour space
("RGB"/"GRAYSCALE"), the normalization mean/std applied to 0..255 pixels and the model's input
range (min/max). MediaPipe Tasks and LiteRT's support library read exactly these fields.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import flatbuffers
from tflite_support import metadata
from tflite_support import metadata_schema_py_generated as schema

LABELS_NAME = "labels.txt"  # the associated file inside the .tflite (a zip appended to it)


def input_metadata(info: dict) -> schema.TensorMetadataT:
    """The image input: colour space, default size, normalization and the raw-pixel range."""
    image = schema.ImagePropertiesT()
    image.colorSpace = getattr(schema.ColorSpaceType, info["color_space"])
    image.defaultSize = schema.ImageSizeT()
    image.defaultSize.width, image.defaultSize.height = info["width"], info["height"]
    normalization = schema.NormalizationOptionsT()
    normalization.mean, normalization.std = info["mean"], info["std"]
    unit = schema.ProcessUnitT()
    unit.optionsType = schema.ProcessUnitOptions.NormalizationOptions
    unit.options = normalization
    stats = schema.StatsT()
    stats.min, stats.max = [info["min"]], [info["max"]]
    tensor = schema.TensorMetadataT()
    tensor.name, tensor.description = "image", info["input_description"]
    tensor.content = schema.ContentT()
    tensor.content.contentPropertiesType = schema.ContentProperties.ImageProperties
    tensor.content.contentProperties = image
    tensor.processUnits, tensor.stats = [unit], stats
    return tensor


def output_metadata(info: dict) -> schema.TensorMetadataT:
    """The probabilities, one per label of the associated labels file."""
    labels = schema.AssociatedFileT()
    labels.name, labels.description = LABELS_NAME, "one label per class, in output order"
    labels.type = schema.AssociatedFileType.TENSOR_AXIS_LABELS
    tensor = schema.TensorMetadataT()
    tensor.name, tensor.description = "probability", "softmax probability of each class"
    tensor.content = schema.ContentT()
    tensor.content.contentPropertiesType = schema.ContentProperties.FeatureProperties
    tensor.content.contentProperties = schema.FeaturePropertiesT()
    stats = schema.StatsT()
    stats.min, stats.max = [0.0], [1.0]
    tensor.stats, tensor.associatedFiles = stats, [labels]
    return tensor


def write_metadata(model_path: Path, info: dict) -> None:
    """Rewrite `model_path` with the metadata and labels of `info` inside."""
    model = schema.ModelMetadataT()
    model.name, model.version = info["name"], info["version"]
    model.description = f"{info['description']} (variant {info.get('variant', '?')})"
    model.author, model.license = info["author"], info["license"]
    subgraph = schema.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [input_metadata(info)]
    subgraph.outputTensorMetadata = [output_metadata(info)]
    model.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / LABELS_NAME
        labels.write_text("".join(f"{label}\n" for label in info["labels"]))
        populator = metadata.MetadataPopulator.with_model_file(str(model_path))
        populator.load_metadata_buffer(builder.Output())
        populator.load_associated_files([str(labels)])
        populator.populate()


if __name__ == "__main__":
    write_metadata(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()))

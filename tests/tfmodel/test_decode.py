"""The decode/resize recipe against independent references: Pillow's EXIF transpose, Keras'
image_dataset_from_directory, each format's header as Pillow reads it, and hostile headers."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from tfmodel.backend import keras, tf
from tfmodel.data.decode import (
    MAX_PIXELS,
    ImageRecipe,
    apply_orientation,
    declared_size,
    decode_image,
    exif_orientation,
)


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    stream = io.BytesIO()
    image.save(stream, kind, **options)
    return stream.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * height)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_the_image_as_pillow_does(orientation):
    stored = gradient(5, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(stored, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    turned = apply_orientation(tf.constant(np.asarray(stored)), tf.constant(orientation))
    np.testing.assert_array_equal(turned.numpy(), expected)


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "BMP", "GIF", "WEBP"])
def test_declared_size_reads_each_format_header_as_pillow(kind):
    data = encoded(gradient(37, 21), kind)
    height, width = declared_size(tf.constant(data))
    assert (int(height), int(width)) == (21, 37)


def test_stretch_and_crop_match_keras_image_dataset_from_directory(tmp_path):
    for name, size in (("a", (40, 20)), ("b", (17, 33))):
        (tmp_path / name).mkdir()
        gradient(*size).save(tmp_path / name / "x.png")
    for mode, crop in (("stretch", False), ("crop", True)):
        reference = keras.utils.image_dataset_from_directory(
            tmp_path, image_size=(12, 16), shuffle=False, batch_size=2, crop_to_aspect_ratio=crop
        )
        expected = next(iter(reference))[0].numpy()
        recipe = ImageRecipe((12, 16), 3, mode)
        for index, name in enumerate("ab"):
            data = (tmp_path / name / "x.png").read_bytes()
            ours = decode_image(tf.constant(data), tf.constant(1), recipe).numpy()
            np.testing.assert_allclose(ours, np.round(expected[index]), atol=1.0)


def test_pad_letterboxes_and_grey_is_one_channel():
    white = Image.new("RGB", (20, 10), (255, 255, 255))
    recipe = ImageRecipe((20, 20), 1, "pad")
    image = decode_image(tf.constant(encoded(white, "PNG")), tf.constant(1), recipe).numpy()
    assert image.shape == (20, 20, 1)
    assert image[:4].max() == 0 and image[-4:].max() == 0 and image[6:14].min() == 255


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width×height (its data is one short row)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = b"IDAT" + zlib.compress(b"\x00" * 4)
    idat = struct.pack(">I", len(data) - 4) + data + struct.pack(">I", zlib.crc32(data))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat


@pytest.mark.parametrize(
    "data",
    [png_declaring(65535, 65535), b"GIF89a\xff\xff\xff\xff" + b"\x00" * 20, b"no image", b""],
    ids=["huge-png", "huge-gif", "garbage", "empty"],
)
def test_hostile_bytes_fail_with_invalid_argument_before_decoding(data):
    recipe = ImageRecipe((8, 8), 3, "stretch")
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_image(tf.constant(data), tf.constant(1), recipe)
    assert 65535 * 65535 > MAX_PIXELS


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_jpegs_exif_orientation_is_read_in_the_graph_as_pillow_reads_it(orientation, endian):
    exif = Image.Exif()
    exif.endian = endian  # TIFF "II" or "MM" byte order
    exif[0x010F] = "Camera maker"  # an entry before the orientation, as cameras write
    exif[0x0112] = orientation
    data = encoded(gradient(30, 20), "JPEG", exif=exif.tobytes())
    tiff = data.index(b"Exif\0\0") + 6
    assert data[tiff : tiff + 2] == (b"MM" if endian == ">" else b"II")
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] == orientation
    assert int(exif_orientation(tf.constant(data))) == orientation


def test_an_image_without_exif_orientation_reads_as_upright():
    without = Image.Exif()
    without[0x010F] = "Camera maker"
    for data in [
        encoded(gradient(30, 20), "JPEG"),
        encoded(gradient(30, 20), "JPEG", exif=without.tobytes()),
        encoded(gradient(30, 20), "PNG"),
        b"",
        b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM",  # cut short after the TIFF header
    ]:
        assert int(exif_orientation(tf.constant(data))) == 1

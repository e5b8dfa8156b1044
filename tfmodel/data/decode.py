"""The one image recipe: encoded bytes → pixels of `data.image_size`, in the graph.

Training (`tfmodel.data.streaming`) and the export's `serving_bytes` signature both call
`decode_image`, so a server decodes and resizes a JPEG exactly as training did. In order:

    header size check   the declared width×height, read before decoding, must be ≤ MAX_PIXELS
    decode              JPEG, PNG, BMP, GIF (first frame), WebP, to RGB
    orientation         the EXIF orientation tag (read when the folder is listed; 1 at serving)
    channels            RGB, or grey (ITU-R 601 luma) for `data.channels: 1`
    resize              stretch (bilinear, aspect ignored, as Keras' image_dataset_from_directory),
                        crop (central crop to the target aspect, then resize) or pad (letterbox)
    round               to whole 0..255 values, so a cached image equals a freshly decoded one
"""

from __future__ import annotations

import dataclasses

from tfmodel.backend import tf

RESIZE_MODES = ("stretch", "crop", "pad")
# A decoded image of this many pixels takes 3 × 64 MiB; a header declaring more is refused, so a
# tiny file claiming 65535×65535 cannot make the decoder allocate gigabytes.
MAX_PIXELS = 2**26


@dataclasses.dataclass(frozen=True)
class ImageRecipe:
    """How files become model inputs: (height, width), channels (1 or 3) and the resize mode."""

    size: tuple[int, int]
    channels: int
    resize: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, self.channels)


def decode_image(data: tf.Tensor, orientation: tf.Tensor, recipe: ImageRecipe) -> tf.Tensor:
    """One encoded image (a scalar string) → float32 (H, W, C) of whole values in 0..255.

    Raises InvalidArgumentError (INVALID_ARGUMENT at a server) when the bytes are no image or
    the header declares more than MAX_PIXELS.
    """
    height, width = declared_size(data)
    pixels = tf.cast(height, tf.int64) * tf.cast(width, tf.int64)
    check = tf.debugging.assert_less_equal(
        pixels, tf.constant(MAX_PIXELS, tf.int64), message="image declares too many pixels"
    )
    with tf.control_dependencies([check]):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = apply_orientation(image, orientation)
    image = tf.cast(image, tf.float32)
    if recipe.channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = resize(image, recipe.size, recipe.resize)
    return tf.round(tf.clip_by_value(image, 0.0, 255.0))


def declared_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(height, width) as the file's header declares them, read without decoding.

    JPEG through TF's own header parser; PNG, GIF, BMP and WebP from their fixed header fields.
    Bytes of no known format give InvalidArgumentError.
    """
    magic = tf.strings.substr(data, 0, 4)
    is_webp = tf.logical_and(
        tf.equal(magic, b"RIFF"), tf.equal(tf.strings.substr(data, 8, 4), b"WEBP")
    )
    branches = [
        (tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff"), lambda: _jpeg_size(data)),
        (tf.equal(magic, b"\x89PNG"), lambda: _field_size(data, 20, 16, 4, False)),
        (tf.equal(magic, b"GIF8"), lambda: _field_size(data, 8, 6, 2, True)),
        (tf.equal(tf.strings.substr(data, 0, 2), b"BM"), lambda: _bmp_size(data)),
        (is_webp, lambda: _webp_size(data)),
    ]
    return tf.case(branches, default=_unknown_format, exclusive=False)


def _jpeg_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
    return shape[0], shape[1]


def _field_size(
    data: tf.Tensor, height_at: int, width_at: int, length: int, little: bool
) -> tuple[tf.Tensor, tf.Tensor]:
    """(height, width) stored as `length`-byte unsigned integers at the given offsets."""
    return _uint(data, height_at, length, little), _uint(data, width_at, length, little)


def _bmp_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    width = _uint(data, 18, 4, True)
    height = _uint(data, 22, 4, True)
    # BMP heights are signed: negative means stored top-down.
    height = tf.where(height >= 2**31, 2**32 - height, height)
    return height, width


def _webp_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """VP8 (lossy), VP8L (lossless) and VP8X (extended) headers, per the WebP container spec."""
    chunk = tf.strings.substr(data, 12, 4)

    def lossy():
        height, width = _field_size(data, 28, 26, 2, True)
        return height % 2**14, width % 2**14

    def lossless():
        bits = _uint(data, 21, 4, True)
        return (bits // 2**14) % 2**14 + 1, bits % 2**14 + 1

    def extended():
        height, width = _field_size(data, 27, 24, 3, True)
        return height + 1, width + 1

    branches = [
        (tf.equal(chunk, b"VP8 "), lossy),
        (tf.equal(chunk, b"VP8L"), lossless),
        (tf.equal(chunk, b"VP8X"), extended),
    ]
    return tf.case(branches, default=_unknown_format)


def _unknown_format() -> tuple[tf.Tensor, tf.Tensor]:
    check = tf.debugging.Assert(False, ["not a JPEG, PNG, GIF, BMP or WebP image"])
    with tf.control_dependencies([check]):
        return tf.constant(0, tf.int64), tf.constant(0, tf.int64)


def _uint(data: tf.Tensor, offset: int, length: int, little_endian: bool) -> tf.Tensor:
    """The unsigned integer in bytes [offset, offset+length) as int64; a short file errors."""
    raw = tf.io.decode_raw(tf.strings.substr(data, offset, length), tf.uint8)
    raw = tf.ensure_shape(tf.cast(raw, tf.int64), [length])  # a truncated header fails here
    weights = [256**i for i in range(length)]
    weights = weights if little_endian else weights[::-1]
    return tf.reduce_sum(raw * tf.constant(weights, tf.int64))


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turn an image stored as EXIF orientation 1..8 says into the way it is meant to be seen
    (as Pillow's ImageOps.exif_transpose; tf.io.decode_image ignores EXIF)."""
    transposed = tf.transpose(image, [1, 0, 2])
    branches = {
        2: lambda: tf.reverse(image, [1]),
        3: lambda: tf.image.rot90(image, 2),
        4: lambda: tf.reverse(image, [0]),
        5: lambda: transposed,
        6: lambda: tf.image.rot90(image, 3),
        7: lambda: tf.image.rot90(transposed, 2),
        8: lambda: tf.image.rot90(image, 1),
    }
    return tf.switch_case(
        tf.cast(orientation, tf.int32) - 1,
        branch_fns=[lambda: image] + [branches[k] for k in range(2, 9)],
        default=lambda: image,
    )


def resize(image: tf.Tensor, size: tuple[int, int], mode: str) -> tf.Tensor:
    """Bilinear resize of one float image to `size` by `mode` (see the module docstring)."""
    if mode == "stretch":
        return tf.image.resize(image, size)
    if mode == "pad":
        return tf.image.resize_with_pad(image, *size)
    if mode != "crop":
        raise ValueError(f"resize mode {mode!r} is not one of {RESIZE_MODES}")
    # The largest central window of the target aspect ratio (as keras' smart_resize).
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    target = size[0] / size[1]
    crop_h = tf.minimum(shape[0], shape[1] * target)
    crop_w = tf.minimum(shape[1], shape[0] / target)
    crop = tf.cast(tf.stack([crop_h, crop_w]), tf.int32)
    offset = (tf.shape(image)[:2] - crop) // 2
    window = image[offset[0] : offset[0] + crop[0], offset[1] : offset[1] + crop[1]]
    return tf.image.resize(window, size)

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
HEADER_BYTES = 32  # enough for the size fields of PNG, GIF, BMP and WebP


@dataclasses.dataclass(frozen=True)
class ImageRecipe:
    """How files become model inputs: (height, width), channels (1 or 3) and the resize mode."""

    size: tuple[int, int]
    channels: int
    resize: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, self.channels)


def decode_image(
    data: tf.Tensor, orientation: tf.Tensor | None, recipe: ImageRecipe, check_size: bool = True
) -> tf.Tensor:
    """One encoded image (a scalar string) → float32 (H, W, C) of whole values in 0..255.

    `orientation` None: the image is upright, and no orientation op enters the graph (even a
    pass-through branch costs a quarter of a small JPEG's decode).

    Raises InvalidArgumentError (INVALID_ARGUMENT at a server) when the bytes are no image or
    the header declares more than MAX_PIXELS. `check_size=False` skips reading the header (it
    changes no pixel): training's files had theirs checked when the folder was listed, and the
    check costs as much as decoding a small JPEG.
    """
    checks = []
    if check_size:
        height, width = declared_size(data)
        checks.append(
            tf.debugging.assert_less_equal(
                height * width, tf.constant(MAX_PIXELS, tf.int64), "image declares too many pixels"
            )
        )
    with tf.control_dependencies(checks):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    if orientation is not None:
        image = apply_orientation(image, orientation)
    if recipe.channels == 1:  # in float: rgb_to_grayscale of uint8 rounds
        image = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))
    # Resizing takes uint8 as it is (casting first copied the full-size image in float32).
    image = resize(image, recipe.size, recipe.resize)
    return tf.round(tf.clip_by_value(image, 0.0, 255.0))


def declared_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(height, width) as the file's header declares them, read without decoding.

    JPEG through TF's own header parser (its size sits in a frame marker anywhere in the file);
    PNG, GIF, BMP and WebP from fixed fields of the first 32 bytes, by arithmetic rather than
    control flow (tf.case per image costs more than the decode of a small JPEG). Bytes of no
    known format give (0, 0), and decoding them fails.
    """
    head = tf.strings.substr(data + b"\0" * HEADER_BYTES, 0, HEADER_BYTES)
    raw = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)

    def number(offset: int, length: int, little: bool = True) -> tf.Tensor:
        weights = [256**i for i in range(length)]
        weights = weights if little else weights[::-1]
        return tf.reduce_sum(raw[offset : offset + length] * tf.constant(weights, tf.int64))

    def starts(magic: bytes, at: int = 0) -> tf.Tensor:
        return tf.reduce_all(tf.equal(raw[at : at + len(magic)], list(magic)))

    bmp_height = number(22, 4)
    vp8l = number(21, 4)
    # (format test, height, width); WebP's three chunk kinds per the WebP container spec.
    candidates = [
        (starts(b"\x89PNG"), number(20, 4, False), number(16, 4, False)),
        (starts(b"GIF8"), number(8, 2), number(6, 2)),
        (
            starts(b"BM"),
            tf.where(bmp_height >= 2**31, 2**32 - bmp_height, bmp_height),
            number(18, 4),
        ),
        (starts(b"VP8 ", 12), number(28, 2) % 2**14, number(26, 2) % 2**14),
        (starts(b"VP8L", 12), (vp8l // 2**14) % 2**14 + 1, vp8l % 2**14 + 1),
        (starts(b"VP8X", 12), number(27, 3) + 1, number(24, 3) + 1),
    ]
    height = width = tf.constant(0, tf.int64)
    for found, h, w in candidates:
        height, width = tf.where(found, h, height), tf.where(found, w, width)
    return tf.cond(starts(b"\xff\xd8\xff"), lambda: _jpeg_size(data), lambda: (height, width))


def _jpeg_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
    return shape[0], shape[1]


EXIF_WINDOW = 65536  # bytes searched for a JPEG's EXIF segment (APP1 comes first, before pixels)
EXIF_MAX_ENTRIES = 64  # IFD0 entries looked at for the orientation tag (cameras write ~10-20)
EXIF_ORIENTATION_TAG = 0x0112


def exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """A JPEG's EXIF orientation (1..8) read from its bytes in the graph; 1 when it has none.

    The EXIF segment (APP1: "Exif\0\0", then a TIFF header "II*\0" or "MM\0*", the offset of
    IFD0, its entry count, 12-byte entries of tag, type, count, value) is found by a vectorised
    search of the first EXIF_WINDOW bytes, the orientation entry by comparing IFD0's tags at
    once: no loop, so it costs a few small ops per image. For serving_bytes, where a client may
    post a phone's JPEG as it is; training reads the tag when the folder is listed.
    """
    head = tf.strings.substr(data, 0, EXIF_WINDOW)
    head = tf.strings.substr(tf.strings.join([head, b"\0" * EXIF_WINDOW]), 0, EXIF_WINDOW)
    raw = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)
    marker = b"Exif\0\0"
    found = tf.ones([EXIF_WINDOW - len(marker)], tf.bool)
    for k, byte in enumerate(marker):
        found &= tf.equal(raw[k : EXIF_WINDOW - len(marker) + k], byte)
    tiff = tf.argmax(tf.cast(found, tf.int32), output_type=tf.int64) + len(marker)
    little = tf.equal(raw[tiff], 0x49) & tf.equal(raw[tiff + 1], 0x49)
    big = tf.equal(raw[tiff], 0x4D) & tf.equal(raw[tiff + 1], 0x4D)

    def number(at: tf.Tensor, length: int) -> tf.Tensor:
        """Unsigned integers of `length` bytes at offsets `at` (any shape), in the file's order."""
        spots = tf.clip_by_value(
            at[..., None] + tf.range(length, dtype=tf.int64), 0, EXIF_WINDOW - 1
        )
        weights = tf.constant([256**i for i in range(length)], tf.int64)
        weights = tf.where(little, weights, tf.reverse(weights, [0]))
        return tf.reduce_sum(tf.gather(raw, spots) * weights, axis=-1)

    ifd = tiff + number(tiff + 4, 4)
    entries = ifd + 2 + 12 * tf.range(EXIF_MAX_ENTRIES, dtype=tf.int64)
    hit = tf.equal(number(entries, 2), EXIF_ORIENTATION_TAG)
    hit &= tf.range(EXIF_MAX_ENTRIES, dtype=tf.int64) < number(ifd, 2)
    value = tf.gather(number(entries + 8, 2), tf.argmax(tf.cast(hit, tf.int32)))
    valid = tf.reduce_any(found) & (little | big) & tf.equal(number(tiff + 2, 2), 42)
    valid &= tf.reduce_all(tf.equal(raw[:3], [0xFF, 0xD8, 0xFF])) & tf.reduce_any(hit)
    return tf.where(valid & (value >= 1) & (value <= 8), value, 1)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turn an image stored as EXIF orientation 1..8 says into the way it is meant to be seen
    (as Pillow's ImageOps.exif_transpose; tf.io.decode_image ignores EXIF); other values: as is.

    One branch per orientation, so 1 passes the image through untouched (a data-dependent
    transpose and reverse copied every image).
    """
    orientation = tf.cast(orientation, tf.int32)
    index = tf.where((orientation >= 1) & (orientation <= 8), orientation, 1) - 1

    def turned(transpose: bool, axes: list[int]):
        # rot90 counter-clockwise = transpose, then reverse the rows.
        return lambda: tf.reverse(tf.transpose(image, [1, 0, 2]) if transpose else image, axes)

    branches = [lambda: image] + [
        turned(transpose, axes)
        for transpose, axes in [
            (False, [1]),
            (False, [0, 1]),
            (False, [0]),
            (True, []),
            (True, [1]),
            (True, [0, 1]),
            (True, [0]),
        ]
    ]
    return tf.switch_case(index, branches)


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

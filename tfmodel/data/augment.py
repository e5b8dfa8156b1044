"""`data.augment`: random changes to training batches, drawn from (seed, step) so they replay.

`flip` mirrors left-right with probability ½; `rotate:F` turns by up to ±F of a full turn and
`zoom:F` scales by up to ±F (both about the centre, edges reflected, as Keras' RandomRotation
and RandomZoom); `contrast:F` scales each image's deviation from its mean by 1±F. They run in
the input pipeline on training batches only, never in the exported model. Keras' preprocessing
layers draw from a stateful generator, which a resumed run could not replay, hence tf ops.
"""

from __future__ import annotations

import math

from tfmodel.backend import tf
from tfmodel.errors import UserError

TRANSFORMS = {"flip": 0.0, "rotate": 0.1, "zoom": 0.1, "contrast": 0.2}  # name: default amount


def parse_augment(specs) -> list[tuple[str, float]]:
    """`["flip", "rotate:0.1"]` → [("flip", 0.0), ("rotate", 0.1)], checked."""
    parsed = []
    for spec in specs:
        name, _, amount = str(spec).partition(":")
        if name not in TRANSFORMS:
            raise UserError(
                f"data.augment entry {spec!r} is unknown: use {', '.join(TRANSFORMS)} "
                "(e.g. [flip, rotate:0.1, zoom:0.1, contrast:0.2])"
            )
        try:
            value = float(amount) if amount else TRANSFORMS[name]
        except ValueError:
            value = -1.0
        if not 0 <= value < 1:
            raise UserError(f"data.augment entry {spec!r}: the amount must be in [0, 1)")
        parsed.append((name, value))
    return parsed


def augment_batch(images: tf.Tensor, transforms, seed: tuple) -> tf.Tensor:
    """A batch (B, H, W, C) of 0..255 values (float32, or uint8 from a cache) with each
    transform applied, seeded by `seed`, as float32: rotation, zoom and contrast give
    fractions, which the model's input takes as they are."""
    images = tf.cast(images, tf.float32)
    base = tf.cast(tf.stack(seed), tf.int64)
    count = tf.shape(images)[0]
    scale = tf.ones([count])
    angle = tf.zeros([count])
    for k, (name, amount) in enumerate(transforms):
        key = tf.random.experimental.stateless_fold_in(base, k)
        draw = tf.random.stateless_uniform([count], key, -1.0, 1.0)
        if name == "flip":
            images = tf.where(draw[:, None, None, None] < 0, tf.reverse(images, [2]), images)
        elif name == "rotate":
            angle = draw * amount * 2 * math.pi
        elif name == "zoom":
            scale = 1.0 + draw * amount
        elif name == "contrast":
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
            factor = (1.0 + draw * amount)[:, None, None, None]
            images = tf.clip_by_value((images - mean) * factor + mean, 0.0, 255.0)
    if any(name in ("rotate", "zoom") for name, _ in transforms):
        images = _rotate_and_zoom(images, angle, scale)
    return images


def _rotate_and_zoom(images: tf.Tensor, angle: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Each output pixel samples the input at centre + scale·R(angle)·(pixel − centre)."""
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a0, a1 = scale * tf.cos(angle), -scale * tf.sin(angle)
    b0, b1 = scale * tf.sin(angle), scale * tf.cos(angle)
    zeros = tf.zeros_like(angle)
    matrix = tf.stack(
        [a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy, zeros, zeros], axis=1
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=matrix,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )

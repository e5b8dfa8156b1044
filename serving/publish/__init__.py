"""The publish gate: a model (a run's, or one brought) enters a live model base only once it has
earned it.

Delivery uses both sides, so it lives here rather than in training: it exports with
`tfmodel.export` and judges with the server's own rules and a server process.

- `cli`: `python -m serving.publish MODEL BASE`, a thin command line over `gate` (run by `__main__`)
- `gate`: stage the candidate, validate, score against BASE's newest version, bless or block, move
- `infra_validation`: the candidate served by a fresh model server process, its warmup replayed
  over gRPC (the server's warmup reading rule, `serving.server.core.warmup`)
"""

# First: Keras 2 must be chosen before TensorFlow loads (tfmodel.backend), as in serving.demo.
import tfmodel.backend  # noqa: F401

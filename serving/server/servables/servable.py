"""One loaded model version: a SavedModel in its own TF1 Session, run the way TF Serving runs it.

TF Serving loads SavedModels with the Session-based loader (the `serve` MetaGraph, its variables,
its init ops) and calls `Session::Run` with tensors named by the signatures. Two things matter for
answering exactly as it does: loading must not go through TF2 object loading (it rejects some
models TF Serving serves), and a fed tensor is not checked against the placeholder's declared
shape (half_plus_two declares `x` as (-1, 1) and is fed (3,)). `tf.compat.v1.Session.run` checks
shapes, so tensors are fed through callables, which go straight to the C++ session.
"""

import dataclasses
import threading
from collections.abc import Callable, Sequence

import numpy as np
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2

from serving.server.backend import tf
from serving.server.status import as_serving_error, invalid_argument
from serving.tensors import dtype_name

CALLER_THREAD = config_pb2.RunOptions(inter_op_thread_pool=-1)
# Runs a batch of feeds (tensor name → array) and returns the fetched arrays, in order.
RunFunction = Callable[[dict[str, np.ndarray], Sequence[str]], list[np.ndarray]]


@dataclasses.dataclass
class Servable:
    """A model version ready to serve: its name, version, export path, Session and MetaGraph."""

    name: str
    version: int
    path: str
    session: tf.compat.v1.Session
    meta_graph: meta_graph_pb2.MetaGraphDef
    # Set by the batching layer: it queues runs and calls `run_now` on merged batches.
    batched_run: RunFunction | None = None
    _callables: dict = dataclasses.field(default_factory=dict, repr=False)
    _dtypes: dict = dataclasses.field(default_factory=dict, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def signatures(self):
        """The SignatureDef map of the loaded MetaGraph, keyed by signature name."""
        return self.meta_graph.signature_def

    def run(self, feeds: dict[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]:
        """Runs the graph, through the batching queue when batching is on."""
        if self.batched_run is not None:
            return self.batched_run(feeds, fetches)
        return self.run_now(feeds, fetches)

    def run_now(self, feeds: dict[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]:
        """Runs the graph once: feeds by tensor name, fetches by tensor name.

        Like `Session::Run` in C++: the fed dtype must equal the graph tensor's dtype, the shape is
        not checked. TensorFlow errors become the `ServingError` with the same canonical code.
        """
        names = tuple(sorted(feeds))
        self._check_feed_dtypes(names, feeds)
        try:
            run = self._callable(names, tuple(fetches))
            return [np.asarray(value) for value in run(*(feeds[name] for name in names))]
        except tf.errors.OpError as error:
            raise as_serving_error(error) from error
        except UnicodeDecodeError as error:
            # TF's Python layer fails to decode a status message quoting the input's bytes (e.g.
            # ParseExample's "Could not parse example input, value: '…'"): input at fault, so
            # INVALID_ARGUMENT, with the message TF Serving would send (`error.object` holds it)
            raise invalid_argument(error.object.decode("utf-8", errors="replace")) from error

    def _check_feed_dtypes(self, names: tuple[str, ...], feeds: dict[str, np.ndarray]) -> None:
        dtypes = self._feed_dtypes(names)
        for index, (name, expected) in enumerate(zip(names, dtypes, strict=True)):
            if expected is None or feeds[name].dtype == expected.as_numpy_dtype:
                continue  # an unknown name is reported by the session itself
            given = tf.dtypes.as_dtype(feeds[name].dtype)
            if given != expected:
                raise invalid_argument(
                    f"Expects arg[{index}] to be {dtype_name(expected.as_datatype_enum)} but "
                    f"{dtype_name(given.as_datatype_enum)} is provided"
                )

    def _feed_dtypes(self, names: tuple[str, ...]) -> list:
        """The graph's dtype of each fed tensor (None for a name it lacks), looked up once: a
        graph lookup costs as much as a small model's whole run."""
        missing = [name for name in names if name not in self._dtypes]
        for name in missing:
            try:
                self._dtypes[name] = self.session.graph.get_tensor_by_name(name).dtype
            except (KeyError, ValueError):
                self._dtypes[name] = None
        return [self._dtypes[name] for name in names]

    def _callable(self, feeds: tuple[str, ...], fetches: tuple[str, ...]):
        key = (feeds, fetches)
        with self._lock:
            if key not in self._callables:
                # Ops run on the calling thread instead of being handed to the inter-op pool:
                # for a serving graph (a chain of ops on a small batch) the hand-offs cost more
                # than the ops, 4-6× a digits MLP's run (benchmarks/RESULTS.md, Serving).
                # Large ops still use the intra-op pool.
                options = config_pb2.CallableOptions(
                    feed=feeds, fetch=fetches, run_options=CALLER_THREAD
                )
                self._callables[key] = self.session._make_callable_from_options(options)
            return self._callables[key]


def load_servable(name: str, version: int, path: str, tags: Sequence[str] = ("serve",)) -> Servable:
    """Loads the SavedModel at `path` (one version folder) into a fresh Graph and Session."""
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():
            # TF marks this loader deprecated for tf.saved_model.load, which is TF2 object
            # loading: no Session, so none of the above, and on the digits MLP export it loads
            # in 609 ms against 145 ms and answers one example in 0.94 ms against 0.071 ms
            # (medians, 2 cores). So the TF1 loader stays; its deprecation notice is dropped by
            # serving.server.backend's log filter (shown with --verbose).
            meta_graph = tf.compat.v1.saved_model.loader.load(session, list(tags), path)
    except BaseException:
        session.close()
        raise
    return Servable(name=name, version=version, path=path, session=session, meta_graph=meta_graph)

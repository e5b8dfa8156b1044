"""Server-side batching (`--enable_batching`): concurrent runs merged into one Session run.

As in TF Serving's BatchingSession, runs with the same feed and fetch tensor names queue together;
a batch thread concatenates their inputs along the 0th dimension (up to `max_batch_size`, waiting
at most `batch_timeout_micros` for more), pads it to the next `allowed_batch_sizes` entry by
repeating the first row, runs it once and splits every output back along the 0th dimension.
"""

import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Sequence

import grpc
import numpy as np
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from serving.errors import UsageError
from serving.server import metrics
from serving.server.servables.servable import RunFunction
from serving.server.status import ServingError, failed_precondition, invalid_argument


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's BatchingParameters (the `--batching_parameters_file` text proto)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()


def _batching_parameters_class():
    """BatchingParameters is not in the tensorflow-serving-api wheel: declare its fields here."""
    wrapper = wrappers_pb2.Int64Value.DESCRIPTOR.file
    file = descriptor_pb2.FileDescriptorProto(
        name="tfmodel_batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=[wrapper.name],
    )
    message = file.message_type.add(name="BatchingParameters")
    fields = descriptor_pb2.FieldDescriptorProto
    for number, name, wrapped in [
        (1, "max_batch_size", "Int64Value"),
        (2, "batch_timeout_micros", "Int64Value"),
        (3, "max_enqueued_batches", "Int64Value"),
        (4, "num_batch_threads", "Int64Value"),
        (5, "thread_pool_name", "StringValue"),
        (8, "enable_large_batch_splitting", "BoolValue"),
        (9, "max_execution_batch_size", "Int64Value"),
    ]:
        message.field.add(
            name=name,
            number=number,
            type=fields.TYPE_MESSAGE,
            type_name=f".google.protobuf.{wrapped}",
        )
    message.field.add(name="allowed_batch_sizes", number=6, type=fields.TYPE_INT64, label=3)
    message.field.add(name="pad_variable_length_inputs", number=7, type=fields.TYPE_BOOL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrapper.serialized_pb)
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return message_factory.GetMessageClass(descriptor)


def read_batching_parameters(path: str) -> BatchingParameters:
    """Reads a BatchingParameters text proto, e.g. `max_batch_size { value: 128 }`."""
    proto = _batching_parameters_class()()
    try:
        with open(path) as file:
            text_format.Parse(file.read(), proto)
    except (OSError, text_format.ParseError) as error:
        raise UsageError(
            f"--batching_parameters_file {path}: {error}. Write a BatchingParameters text proto, "
            "e.g. 'max_batch_size { value: 32 } batch_timeout_micros { value: 1000 }'."
        ) from error
    if proto.pad_variable_length_inputs:
        raise UsageError(
            f"--batching_parameters_file {path}: pad_variable_length_inputs is not supported by "
            "the local server; remove it or send inputs of equal shapes."
        )
    defaults = BatchingParameters()
    values = {
        name: getattr(proto, name).value if proto.HasField(name) else getattr(defaults, name)
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches")
    }
    threads = proto.num_batch_threads.value if proto.HasField("num_batch_threads") else None
    return BatchingParameters(
        **values,
        num_batch_threads=threads or defaults.num_batch_threads,
        allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
    )


def batching_parameters_text(params: BatchingParameters) -> str:
    """`params` as a BatchingParameters text proto, as TF Serving and the reader above read it."""
    proto = _batching_parameters_class()()
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches"):
        getattr(proto, name).value = getattr(params, name)
    proto.num_batch_threads.value = params.num_batch_threads
    proto.allowed_batch_sizes.extend(params.allowed_batch_sizes)
    return text_format.MessageToString(proto)


@dataclasses.dataclass
class _Task:
    feeds: dict[str, np.ndarray]
    size: int
    enqueued: float = dataclasses.field(default_factory=time.monotonic)
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    outputs: list[np.ndarray] | None = None
    error: Exception | None = None


@dataclasses.dataclass
class _Queue:
    """The tasks waiting for one (feed names, fetch names) and the sum of their sizes."""

    tasks: deque = dataclasses.field(default_factory=deque)
    size: int = 0


class Batcher:
    """Batch queues for one Servable, one per (feed names, fetch names), and the batch threads."""

    def __init__(self, params: BatchingParameters, run_now: RunFunction):
        self.params = params
        self._run_now = run_now
        self._queues: dict[tuple, _Queue] = {}
        self._ready = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{index}", daemon=True)
            for index in range(max(params.num_batch_threads, 1))
        ]
        for thread in self._threads:
            thread.start()

    def run(self, feeds: dict[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]:
        """Queues one run and waits for the batch that carries it."""
        sizes = {value.shape[0] if value.ndim else None for value in feeds.values()}
        if None in sizes:
            raise invalid_argument("Batching Run() input tensors must have at least one dimension")
        if len(sizes) > 1:
            raise invalid_argument(
                "Batching Run() input tensors must have equal 0th-dimension size"
            )
        size = sizes.pop() if sizes else 0
        if size > self.params.max_batch_size:
            raise invalid_argument(
                f"Task size {size} is larger than maximum input batch size "
                f"{self.params.max_batch_size}"
            )
        task = _Task(feeds=feeds, size=size)
        with self._ready:
            if self._closing or not feeds:
                return self._run_now(feeds, fetches)
            queue = self._queues.setdefault((tuple(sorted(feeds)), tuple(fetches)), _Queue())
            queued = queue.size + size
            if -(-queued // self.params.max_batch_size) > self.params.max_enqueued_batches:
                raise ServingError(
                    grpc.StatusCode.UNAVAILABLE,
                    "The batch scheduling queue to which this task was submitted is full",
                )
            queue.tasks.append(task)
            queue.size = queued
            # A batch thread is woken only when it has something new to do: time a batch that
            # has just begun, or send a full one. Waking it on every task cost more CPU than
            # the merged run saved (each wake-up is a GIL hand-off).
            if len(queue.tasks) == 1 or queued >= self.params.max_batch_size:
                self._ready.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def close(self) -> None:
        """Lets the batch threads finish what is queued, then stops them."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                batch = self._next_batch()
            if batch is None:
                return
            self._process(*batch)

    def _next_batch(self):
        """Waits for a queue that is full or whose oldest task timed out; pops one batch of it."""
        timeout = self.params.batch_timeout_micros / 1e6
        while True:
            waits = []
            now = time.monotonic()
            for key, queue in self._queues.items():
                if not queue.tasks:
                    continue
                age = now - queue.tasks[0].enqueued
                if self._closing or queue.size >= self.params.max_batch_size or age >= timeout:
                    return key, self._pop_batch(queue)
                waits.append(timeout - age)
            if self._closing:
                return None
            self._ready.wait(min(waits) if waits else None)

    def _pop_batch(self, queue: _Queue) -> list[_Task]:
        batch, total = [], 0
        while queue.tasks and total + queue.tasks[0].size <= self.params.max_batch_size:
            total += queue.tasks[0].size
            batch.append(queue.tasks.popleft())
        queue.size -= total
        if queue.tasks:
            self._ready.notify()  # the rest begins the next batch: another thread times it
        return batch

    def _process(self, key: tuple, tasks: list[_Task]) -> None:
        names, fetches = key
        try:
            outputs = self._run_merged(names, fetches, tasks)
            for task, task_outputs in zip(tasks, outputs, strict=True):
                task.outputs = task_outputs
        except Exception as error:  # every task of a failed batch gets the batch's error
            for task in tasks:
                task.error = error
        for task in tasks:
            task.done.set()

    def _run_merged(self, names, fetches, tasks: list[_Task]) -> list[list[np.ndarray]]:
        total = sum(task.size for task in tasks)
        padded = min((s for s in self.params.allowed_batch_sizes if s >= total), default=total)
        now = time.monotonic()
        queued = [(now - task.enqueued) * 1e6 for task in tasks]
        metrics.record_batch([task.size for task in tasks], padded, queued)
        merged = {}
        for name in names:
            parts = [task.feeds[name] for task in tasks]
            if any(part.shape[1:] != parts[0].shape[1:] for part in parts):
                raise failed_precondition(
                    f"Tensors with name '{name}' from different tasks have different shapes and "
                    "padding is turned off. Set pad_variable_length_inputs to true, or ensure "
                    "that all tensors with the same name have equal dimensions starting with the "
                    "first dim."
                )
            padding = [parts[-1][:1]] * (padded - total)
            parts += padding
            merged[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        results = self._run_now(merged, fetches)
        for result in results:
            if result.ndim == 0:
                raise failed_precondition("Batched output tensor has 0 dimensions")
            if result.shape[0] != padded:
                raise failed_precondition(
                    "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                    "dimension sizes of the input tensors"
                )
        bounds, start = [], 0
        for task in tasks:
            bounds.append((start, start + task.size))
            start += task.size
        return [[result[begin:end] for result in results] for begin, end in bounds]

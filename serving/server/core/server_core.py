"""The live set of served models: configuration, version loading and swapping, labels, status.

`ServerCore` mirrors TF Serving's ServerCore. A ModelServerConfig names the models; each poll reads
every base path, loads the versions the policy aspires (then replays their warmup records) and
unloads the others, preserving availability: an old version is dropped only once a new aspired one
is serving, and a version that fails to load leaves the old one in place. Loading happens outside
the lock, so requests keep being answered by the old version during a swap; a request holds its
Servable until it finishes, and an unloaded Session closes when the last request lets go of it.
"""

import dataclasses
import logging
import threading
import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.server import metrics
from serving.server.core.model_config import validate_model_configs
from serving.server.core.model_signature import UnverifiedModelError, check_signed
from serving.server.core.request_log import DEFAULT_MAX_BYTES, RequestLogs
from serving.server.core.versions import aspired_versions, find_versions
from serving.server.core.warmup import replay_warmup
from serving.server.servables.batching import Batcher, BatchingParameters
from serving.server.servables.servable import Servable, load_servable
from serving.server.status import (
    ServingError,
    as_serving_error,
    failed_precondition,
    invalid_argument,
    not_found,
)

log = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass(frozen=True)
class CoreOptions:
    """How models are loaded and refreshed (named after tensorflow_model_server's flags)."""

    file_system_poll_wait_seconds: float = 1.0
    allow_version_labels_for_unavailable_models: bool = False
    enable_model_warmup: bool = True
    max_num_load_retries: int = 5
    load_retry_interval_seconds: float = 60.0
    saved_model_tags: tuple[str, ...] = ("serve",)
    batching: BatchingParameters | None = None
    model_verify_key: str = ""  # PEM public key: load only versions it signed (model_signature)
    request_log_max_bytes: int = DEFAULT_MAX_BYTES


@dataclasses.dataclass
class VersionRecord:
    """What the server knows about one version: state, load error, and the loaded Servable."""

    path: str
    state: int = State.START
    error: ServingError | None = None
    servable: Servable | None = None
    batcher: Batcher | None = None
    attempts: int = 0
    last_attempt: float = 0.0
    retryable: bool = True  # False after a failure no retry can fix (a failed signature check)


class ServerCore:
    """Models by name, their versions, and ModelSpec → Servable resolution, as TF Serving does."""

    def __init__(self, options: CoreOptions):
        self.options = options
        self._configs: dict[str, model_server_config_pb2.ModelConfig] = {}
        self._versions: dict[str, dict[int, VersionRecord]] = {}  # kept after unload, for status
        self._labels: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()  # guards the three tables above
        self._reconfiguring = threading.RLock()  # one poll or config reload at a time
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self.request_logs = RequestLogs(options.saved_model_tags, options.request_log_max_bytes)

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Serves exactly the models of `config`; returns once every new model is available."""
        kind = config.WhichOneof("config")
        if kind is None:
            return  # TF Serving takes no action for an empty config
        if kind != "model_config_list":
            raise invalid_argument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                "Only ModelConfigList is currently supported"
            )
        entries = list(config.model_config_list.config)
        with self._reconfiguring:
            validate_model_configs(entries)
            labels = self._checked_labels(entries)
            self.request_logs.configure(entries)
            configs = {entry.name: entry for entry in entries}
            kept = [name for name in configs if name in self._configs]
            removed = [name for name in self._configs if name not in configs]
            with self._lock:
                self._configs, self._labels = configs, labels
            for name in removed:
                self._unload_all(name)
            for name in kept:
                self._poll_model(name, raise_errors=False)
        # Waiting happens outside the lock: the other models keep being polled meanwhile.
        self._await_available([name for name in configs if name not in kept])

    def _checked_labels(self, entries) -> dict[str, dict[str, int]]:
        """The new label map; as TF Serving, a label must name an available version unless the
        server allows labels for unavailable models (and the label is new or unchanged)."""
        allow_unavailable = self.options.allow_version_labels_for_unavailable_models
        labels: dict[str, dict[str, int]] = {}
        for entry in entries:
            labels[entry.name] = dict(entry.version_labels)
            for label, version in entry.version_labels.items():
                old = self._labels.get(entry.name, {}).get(label)
                if allow_unavailable and old in (None, version):
                    continue
                record = self._versions.get(entry.name, {}).get(version)
                if record is None or record.state != State.AVAILABLE:
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {entry.name}, "
                        "which is not currently available for inference"
                    )
        return labels

    def _await_available(self, names: list[str]) -> None:
        """Polls the new models until each serves a version, as TF Serving waits for them.

        A model without a version folder yet keeps waiting while polling is on; it fails once
        every version it has ended in an error with no load retry left. Returns if stopped.
        """
        pending, warned = set(names), set()
        poll_wait = self.options.file_system_poll_wait_seconds
        retry_wait = max(self.options.load_retry_interval_seconds, 0.01)
        while pending:
            with self._reconfiguring:
                pending &= set(self._configs)  # a later reload may have removed a model
                for name in sorted(pending):
                    self._poll_model(name, raise_errors=True)
            failed = False
            for name in sorted(pending):
                records = list(self._versions.get(name, {}).values())
                config = self._configs.get(name)
                if not records and config is not None and name not in warned:
                    warned.add(name)
                    log.warning(
                        "No versions of servable %s found under base path %s; waiting for one",
                        name,
                        config.base_path,
                    )
                if any(record.state == State.AVAILABLE for record in records):
                    pending.discard(name)
                elif records and all(self._gave_up(record) for record in records):
                    failed = True
            retrying = any(
                record.state == State.END and not self._gave_up(record)
                for name in pending
                for record in self._versions.get(name, {}).values()
            )
            if failed or (pending and poll_wait <= 0 and not retrying):
                raise self._unavailable_error(pending)
            wait = min(poll_wait, retry_wait) if poll_wait > 0 else retry_wait
            if pending and self._stopping.wait(wait):
                return

    def _gave_up(self, record: VersionRecord) -> bool:
        """Whether a version failed to load and has no retry left (`--max_num_load_retries`)."""
        return (
            record.state == State.END
            and record.error is not None
            and (not record.retryable or record.attempts > self.options.max_num_load_retries)
        )

    def _unavailable_error(self, names: set[str]) -> ServingError:
        parts = []
        for name in sorted(names):
            records = self._versions.get(name, {})
            if not records:
                base = self._configs[name].base_path
                parts.append(f"{{name: {name}}} due to error: no version folder under {base}")
            for version, record in sorted(records.items()):
                reason = f" due to error: {record.error.message}" if record.error else ""
                parts.append(f"{{name: {name} version: {version}}}{reason}")
        listing = "".join(part + ", " for part in parts)
        return ServingError(
            grpc.StatusCode.UNKNOWN,
            f"{len(names)} model(s) did not become available: {{{listing}}}",
        )

    def poll_once(self) -> None:
        """Reads every model's base path once, loading and unloading versions as the policy says."""
        with self._reconfiguring:
            for name in list(self._configs):
                self._poll_model(name, raise_errors=False)

    def start_polling(self) -> None:
        """Polls the base paths every `file_system_poll_wait_seconds` in a background thread."""
        if self.options.file_system_poll_wait_seconds <= 0 or self._poller is not None:
            return
        self._poller = threading.Thread(target=self._poll_forever, name="fs-poll", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stopping.wait(self.options.file_system_poll_wait_seconds):
            try:
                self.poll_once()
            except Exception:  # a poll must never kill the poller
                log.exception("Polling the model base paths failed")

    def request_stop(self) -> None:
        """Ends polling, load retries and waits for models (from any thread)."""
        self._stopping.set()

    def stop(self, timeout_seconds: float | None = None) -> None:
        """Stops polling and unloads every model.

        With a timeout, a poll still loading a model after it is left to finish on its own
        thread, and its models are not unloaded (the process is ending).
        """
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout_seconds)
        if not self._reconfiguring.acquire(
            timeout=-1 if timeout_seconds is None else timeout_seconds
        ):
            log.warning("A model is still loading; stopping without unloading")
            return
        try:
            for name in list(self._versions):
                self._unload_all(name)
            self.request_logs.close()
        finally:
            self._reconfiguring.release()

    def _poll_model(self, name: str, raise_errors: bool) -> None:
        config = self._configs.get(name)
        if config is None or self._stopping.is_set():
            return
        try:
            aspired = aspired_versions(config, find_versions(name, config.base_path))
        except ServingError as error:
            if raise_errors:
                raise
            log.error("%s", error.message)
            return
        with self._lock:
            records = self._versions.setdefault(name, {})
        for version in sorted(aspired, reverse=True):
            if self._should_load(records.get(version)):
                self._load(name, version, aspired[version])
        self._unload_unaspired(name, set(aspired))

    def _should_load(self, record: VersionRecord | None) -> bool:
        if record is None:
            return True
        if record.state != State.END:
            return False
        if record.error is None:
            return True  # unloaded earlier, aspired again
        waited = time.monotonic() - record.last_attempt >= self.options.load_retry_interval_seconds
        retries_left = record.attempts <= self.options.max_num_load_retries
        return record.retryable and retries_left and waited

    def _load(self, name: str, version: int, path: str) -> None:
        with self._lock:
            record = self._versions[name].setdefault(version, VersionRecord(path=path))
            record.state, record.error, record.path = State.LOADING, None, path
            record.attempts += 1
            record.last_attempt = time.monotonic()
        log.info("Loading servable version {name: %s version: %d} from %s", name, version, path)
        try:
            if self.options.model_verify_key:
                check_signed(path, self.options.model_verify_key)
            servable = load_servable(name, version, path, self.options.saved_model_tags)
            batcher = self._attach_batcher(servable)
            if self.options.enable_model_warmup:
                replayed = replay_warmup(servable)
                log.info("Replayed %d warmup records of %s version %d", replayed, name, version)
        except Exception as error:  # any load failure is recorded and reported, never raised
            metrics.LOAD_ATTEMPT_COUNT.labels(path, "fail").inc()
            with self._lock:
                record.state, record.error = State.END, as_serving_error(error)
                record.retryable = not isinstance(error, UnverifiedModelError)
            log.error("Loading %s version %d failed: %s", name, version, record.error.message)
            return
        with self._lock:
            record.state, record.servable, record.batcher = State.AVAILABLE, servable, batcher
            record.attempts = 0
        metrics.LOAD_ATTEMPT_COUNT.labels(path, "success").inc()
        log.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _attach_batcher(self, servable: Servable) -> Batcher | None:
        if self.options.batching is None:
            return None
        batcher = Batcher(self.options.batching, servable.run_now)
        servable.batched_run = batcher.run
        return batcher

    def _unload_unaspired(self, name: str, aspired: set[int]) -> None:
        records = self._versions[name]
        serving = sorted(v for v, r in records.items() if r.state == State.AVAILABLE)
        aspired_serving = [v for v in serving if v in aspired]
        unaspired = [v for v in serving if v not in aspired]
        if aspired and not aspired_serving:
            unaspired = unaspired[:-1]  # keep the newest old version until a new one serves
        for version in unaspired:
            self._unload(name, version)

    def _unload_all(self, name: str) -> None:
        for version, record in list(self._versions.get(name, {}).items()):
            if record.state == State.AVAILABLE:
                self._unload(name, version)

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            record = self._versions[name][version]
            batcher, record.servable, record.batcher = record.batcher, None, None
            record.state = State.END  # requests holding the Servable finish on it
        if batcher is not None:
            batcher.close()
        log.info("Unloaded servable version {name: %s version: %d}", name, version)

    def servable(self, spec: model_pb2.ModelSpec) -> Servable:
        """The Servable a request's ModelSpec names: its version, its label's, or the latest."""
        if not spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        with self._lock:
            version = None
            if spec.WhichOneof("version_choice") == "version":
                version = spec.version.value
            elif spec.WhichOneof("version_choice") == "version_label":
                version = self._labels.get(spec.name, {}).get(spec.version_label)
                if version is None:
                    raise invalid_argument(
                        f"Unrecognized servable version label: {spec.version_label}"
                    )
            records = self._versions.get(spec.name, {})
            serving = {v: r.servable for v, r in records.items() if r.state == State.AVAILABLE}
            chosen = max(serving, default=None) if version is None else version
            if chosen in serving:
                return serving[chosen]
        request = f"Latest({spec.name})" if version is None else f"Specific({spec.name}, {version})"
        raise not_found(f"Servable not found for request: {request}")

    def unavailable_models(self) -> list[str]:
        """The configured models with no available version (the server is ready if none)."""
        with self._lock:
            return sorted(
                name
                for name in self._configs
                if not any(
                    r.state == State.AVAILABLE for r in self._versions.get(name, {}).values()
                )
            )

    def version_statuses(
        self, spec: model_pb2.ModelSpec
    ) -> list[get_model_status_pb2.ModelVersionStatus]:
        """GetModelStatus: the state of one version, or of every version newest first."""
        with self._lock:
            records = dict(self._versions.get(spec.name, {}))
        if spec.HasField("version"):
            version = spec.version.value
            if version not in records:
                raise not_found(f"Could not find version {version} of model {spec.name}")
            records = {version: records[version]}
        elif not records:
            raise not_found(f"Could not find any versions of model {spec.name}")
        return [_version_status(v, records[v]) for v in sorted(records, reverse=True)]


def _version_status(version: int, record: VersionRecord) -> get_model_status_pb2.ModelVersionStatus:
    status = get_model_status_pb2.ModelVersionStatus(version=version, state=record.state)
    status.status.SetInParent()  # an OK status is still printed, as TF Serving does
    if record.error is not None:
        status.status.error_code = record.error.code.value[0]
        status.status.error_message = record.error.message
    return status

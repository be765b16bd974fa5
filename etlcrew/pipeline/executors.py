"""Where batches run: threads in this process (``local``, the default) or tasks on a Ray cluster (``ray``).

Both take a batch and hand back its ``BatchOutcome`` or the error that stopped it; the data path around them is
the same. With Ray, each task runs one batch end to end in a worker (``pipeline.ray_worker``) and returns its
phase outputs, its model calls and its outcome; this process, the driver, stays the only writer of the ledger
and of the targets, so a worker that dies mid-batch has written nothing: Ray runs the task again elsewhere
(``max_retries``), and the batch is redone whole. Importing this module does not import Ray.

Ray starts lazily: the cluster is started (or joined) when the first batch that needs a worker is submitted, so a
run whose items are all unchanged, or a resume with only landing left, never pays for it (several seconds to
start a local cluster, then each worker imports CrewAI). ``--ray-address`` / ``RAY_ADDRESS`` join a running cluster
(``ray start --head``) instead of starting one per run: see README "Scaling out" for when Ray pays off.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew.pipeline import failpoints

if TYPE_CHECKING:
    from etlcrew.pipeline.batches import Batch
    from etlcrew.pipeline.control import RunControl
    from etlcrew.pipeline.journal import BatchOutcome, StoredBatch
    from etlcrew.pipeline.ray_worker import RemoteResult

Result = tuple["BatchOutcome | None", "BaseException | None"]
RAY_TASK_RETRIES = 3  # system failures (a worker or node dying); model errors follow the crew's retry policy


class LocalExecutor:
    """Batches on threads; each runs in a copy of the run's context (its tool scope, among others)."""

    name = "local"

    def __init__(self, concurrency: int, process: Callable[[Batch, StoredBatch | None], BatchOutcome]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch")
        self._process = process

    def submit(self, batch: Batch, earlier: StoredBatch | None) -> Future[BatchOutcome]:
        return self._pool.submit(contextvars.copy_context().run, self._process, batch, earlier)

    def wait_any(self, pending: set[Any], timeout: float | None = None) -> tuple[list[Result], set[Any]]:
        """The batches that finished (none if ``timeout`` passed first), and those still running."""
        done, still = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        return [(None, f.exception()) if f.exception() else (f.result(), None) for f in done], set(still)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class RayExecutor:
    """Batches as Ray tasks; ``absorb`` commits a worker's result to the ledger in this process."""

    name = "ray"

    def __init__(self, job: dict[str, Any], absorb: Callable[[RemoteResult], BatchOutcome],
                 address: str | None = None, on_ready: Callable[[dict[str, Any]], None] | None = None,
                 control: RunControl | None = None) -> None:
        self._control = control  # its budget goes to the workers through a gate (``pipeline.ray_budget``)
        self._target = address or os.environ.get("RAY_ADDRESS") or None
        self._job_value = job | {"failpoint": failpoints.current()}  # workers do not see this environment
        self._absorb = absorb
        self._on_ready = on_ready
        self._ray: Any = None  # imported and connected on the first batch that needs a worker
        self._started = False
        self._session: str | None = None  # the local cluster's session folder, removed by ``close``

    def _connect(self) -> None:
        """Start a local cluster, or join ``RAY_ADDRESS`` / ``--ray-address``, or use the one already connected."""
        began = time.monotonic()
        target = self._target
        options = quiet_ray(local=target is None)  # before Ray is imported: it reads its settings then
        import ray

        from etlcrew.pipeline.ray_worker import run_batch

        logging.getLogger("ray").setLevel(logging.ERROR)
        starting = not ray.is_initialized()
        if starting:
            if target:
                reachable(target)
            try:
                with ray_stderr_filtered():
                    context = ray.init(address=target, runtime_env={"env_vars": worker_environment()}, **options)
            except Exception as exc:  # ConnectionError, a bad address, a version mismatch...
                from etlcrew.errors import EtlcrewError

                raise EtlcrewError(f"cannot start or reach the Ray cluster {target or '(local)'}: {exc}",
                                   hint="check --ray-address / RAY_ADDRESS, or drop them for a local cluster") from exc
            self._session = context.address_info.get("session_dir") if target is None else None
        self._started = starting  # ours to shut down
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_retries=RAY_TASK_RETRIES, retry_exceptions=False)(run_batch)
        if self._control is not None:
            from etlcrew.pipeline.ray_budget import start_gate

            self._job_value["gate"] = start_gate(ray, self._control)
        self._job = ray.put(self._job_value)
        if self._on_ready is not None:
            how = ("joined " + target if target else "started") if starting else "connected"
            self._on_ready({"executor": "ray", "cluster": how, "seconds": round(time.monotonic() - began, 2)})

    def submit(self, batch: Batch, earlier: StoredBatch | None) -> Any:
        if earlier is not None and earlier.outcome is not None:  # finished before a crash: only loading is left
            from etlcrew.pipeline.ray_worker import RemoteResult

            # no worker needed, nor Ray
            return _Finished(RemoteResult(earlier.outcome, reused=True, batch_no=batch.number))
        if self._ray is None:
            self._connect()
        return self._remote.remote(self._job, batch, earlier.phases if earlier else None)

    def wait_any(self, pending: set[Any], timeout: float | None = None) -> tuple[list[Result], set[Any]]:
        finished = [p for p in pending if isinstance(p, _Finished)]
        if finished:
            return [self._absorbed(lambda f=f: f.result) for f in finished], pending - set(finished)
        ready, _ = self._ray.wait(list(pending), num_returns=1, timeout=timeout)
        return [self._absorbed(lambda r=ref: self._ray.get(r)) for ref in ready], pending - set(ready)

    def _absorbed(self, fetch: Callable[[], RemoteResult]) -> Result:
        try:
            return self._absorb(fetch()), None
        except Exception as exc:  # Ray re-raises the worker's exception (an instance of the same class)
            return None, exc

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
        if self._session:
            remove_session(Path(self._session))


class _Finished:
    """A batch whose outcome was committed before a resume: handed back without Ray."""

    def __init__(self, result: RemoteResult) -> None:
        self.result = result


def quiet_ray(local: bool) -> dict[str, Any]:
    """``ray.init`` options, and the environment (set before Ray is imported), that keep Ray quiet and local.

    Ray logs notices on stderr (its token-auth default), reports usage, and, to find this node's address, probes
    a public DNS server (``8.8.8.8``). A local cluster we start binds to 127.0.0.1 (no probe, nothing reachable
    from the network) with a token of its own held in the environment (not written to ``~/.ray``); an
    ``RAY_AUTH_*`` setting of the user's wins. A cluster we join keeps its own address and authentication.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's C++ core logs warnings on stderr, e.g. its 8.8.8.8 probe when the machine has no network (CI runs
    # under `unshare -n`): errors only, unless the user set a level
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if local:
        chosen = any(name in os.environ for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"))
        if not chosen and "ray" not in sys.modules:  # imported already: it has read its settings
            import secrets

            os.environ["RAY_AUTH_MODE"], os.environ["RAY_AUTH_TOKEN"] = "token", secrets.token_hex(32)
        options["_node_ip_address"] = "127.0.0.1"
    return options


@contextlib.contextmanager
def ray_stderr_filtered() -> Iterator[None]:
    """Keep Ray's start-up warnings from its C++ core off the terminal.

    Starting a local cluster asks the C++ core for this machine's address, which probes a public DNS server and,
    without a network (CI runs under ``unshare -n``), logs a warning on file descriptor 2 before any log level
    applies. While the cluster starts, fd 2 goes to a temporary file; what is not that probe is passed on through
    our console. (The cluster's own processes inherit the file: they log to their session folder anyway.)
    """
    from etlcrew import console

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip() and "external connectivity" not in line and "Set ray log level" not in line:
                    console.warn(f"ray: {line.strip()}")


def remove_session(session: Path) -> None:
    """Remove a local cluster's session folder (Ray leaves one in its temp folder per run), and Ray's
    ``session_latest`` link when it points there."""
    import shutil

    shutil.rmtree(session, ignore_errors=True)
    latest = session.parent / "session_latest"
    if latest.is_symlink() and Path(os.readlink(latest)).name == session.name:
        latest.unlink(missing_ok=True)


def reachable(address: str, timeout: float = 3.0) -> None:
    """Fail in seconds, naming the address, when nothing listens there (Ray itself retries for minutes)."""
    import socket

    host_port = address.removeprefix("ray://").rstrip("/")
    if host_port in ("auto", "local") or ":" not in host_port:
        return
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        from etlcrew.errors import EtlcrewError

        raise EtlcrewError(f"no Ray cluster answers at {address} ({exc})",
                           hint="start it (ray start --head), fix --ray-address / RAY_ADDRESS, "
                                "or drop them for a local cluster") from exc


def worker_environment() -> dict[str, str]:
    """What Ray workers need from this process's environment: CrewAI kept quiet, and the provider keys."""
    from etlcrew.crewai_env import QUIET_CREWAI
    from etlcrew.model_runtime.providers import PROVIDER_KEYS

    names = {n for keys in PROVIDER_KEYS.values() for n in keys}
    names |= {"MODEL", "BASE_URL", "ETLCREW_MODEL_CACHE"}
    passed = {n: os.environ[n] for n in names if n in os.environ}
    return passed | dict(QUIET_CREWAI) | {"RAY_USAGE_STATS_ENABLED": "0", "PYDANTIC_DISABLE_PLUGINS": "__all__"}

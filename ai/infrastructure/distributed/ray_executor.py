"""Run a function over tasks as Ray tasks: on a local Ray instance or on a cluster.

The executor has the same shape as ``LocalExecutor``: ``map_unordered(fn, tasks)`` yields ``fn(task)``
as each task finishes and raises the first failure. The orchestrator's unit of work reads and writes
only files under the run directory, so outputs are byte-identical to a local run; on more than one
node that directory must be on storage every node mounts at the same path (docs/DISTRIBUTED.md).

Ray is an optional extra (``[distributed]``); this module imports it at import time so that
``--executor ray`` without the extra fails with a clear message from the caller.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

# When the driver runs under `uv run`, Ray by default starts every worker through `uv run` in a copy of
# the working directory: a fresh environment built at worker start, without the `distributed` extra
# (so without Ray itself). Pipeline workers must run in the driver's own environment, so opt out
# unless the user set the variable. It is read when Ray is first imported, hence before the import.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

import ray

from ai.infrastructure.distributed.local_executor import default_workers

T = TypeVar("T")
R = TypeVar("R")

# Tasks kept in flight per CPU of the cluster: enough to hide scheduling gaps, few enough that a
# run with thousands of shards does not queue them all (each queued task holds its arguments).
IN_FLIGHT_PER_CPU = 2


class RayExecutorError(RuntimeError):
    """Ray could not run the work; the message says what to check."""


def connect(address: str | None = None, workers: int = 0) -> bool:
    """Attach to Ray once per process; returns True when this call started a new Ray instance.

    ``address`` (or ``RAY_ADDRESS``) joins an existing cluster, whose resources are its own; without
    one a local instance with ``workers`` CPUs (0 = one per core) is started.
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(
                num_cpus=workers if workers > 0 else default_workers(),
                include_dashboard=False,
                **common,
            )
    except Exception as exc:  # Ray reports start-up and connection failures with many types
        ray.shutdown()
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RayExecutorError(
            f"could not start or reach {where}: {exc}. Check the address (--ray-address or RAY_ADDRESS) "
            "and that `ray status` works from this machine."
        ) from exc
    return True


def _call(fn: Callable[[T], R], task: T) -> R:
    return fn(task)


# Task failures are real errors (a bad stage, broken accounting), so they are not retried; only a
# worker that dies is, which is safe because the orchestrator's shard work resumes from its checkpoints.
_remote_call = ray.remote(num_cpus=1, retry_exceptions=False)(_call)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int = 0) -> None:
        self._started = connect(address, workers)

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task as each finishes; the first failure is raised."""
        queue = list(tasks)
        if not queue:
            return
        queue.reverse()  # pop() from the end submits the tasks in their given order
        fn_ref = ray.put(fn)  # shipped to the object store once, not once per task
        limit = max(1, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        pending: list[Any] = []
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    pending.append(_remote_call.remote(fn_ref, queue.pop()))
                done, pending = ray.wait(pending, num_returns=1)
                yield self._result(done[0])
        finally:
            # A failed or abandoned run must not keep the cluster busy. A polite cancel can miss a task
            # that is just starting, so the worker is killed; its shard has no marker and is redone
            # on resume, and a half-written temp file is ignored.
            for ref in pending:
                ray.cancel(ref, force=True)

    def _result(self, ref: Any) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if not isinstance(cause, BaseException):
                raise
            if isinstance(cause, FileNotFoundError) and len(ray.nodes()) > 1:
                raise RayExecutorError(
                    f"a Ray worker could not find a file of the run ({cause}); on a multi-node cluster "
                    "the run directory must be on storage every node mounts at the same path "
                    "(see docs/DISTRIBUTED.md)"
                ) from cause
            raise cause from exc  # the chained RayTaskError carries the remote traceback
        except ray.exceptions.WorkerCrashedError as exc:
            raise RayExecutorError(
                f"a Ray worker died while running a shard ({exc}); finished shards are kept, "
                "run `dataset-pipeline resume DIR` to continue"
            ) from exc

    def close(self) -> None:
        """Shut Ray down only if this executor started it; a shared cluster or session stays up."""
        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

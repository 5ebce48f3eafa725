"""The Ray executor: N trials at once, on one machine's GPUs/cores or on a Ray cluster.

``hf-quicktune run ... --workers N`` starts a local Ray runtime; ``--ray-address auto|ray://host:port``
joins a running cluster. There is one actor per worker and each owns its device: one GPU per worker
when the runtime has GPUs (Ray sets ``CUDA_VISIBLE_DEVICES``; the train engine's Accelerate
``Accelerator`` takes it; more workers than GPUs share them, see :func:`plan_workers`), else CPU workers
with the cores split between them (``OMP_NUM_THREADS`` and torch's thread pools set per actor, so N
workers never oversubscribe the cores).

Trials are files: every actor trains from and writes to ``--output-dir/trials/NNNN`` (curve +
checkpoint), so on a cluster ``--output-dir`` must be a filesystem path every node sees (NFS, a
mounted bucket, ...); fsspec URLs such as ``s3://`` are not supported. The workers check it when they start (a
token the driver wrote in ``workers/driver-token``, read back on each node) and the run stops there if one does
not; with ``--ray-address`` every node of the cluster is checked so before the dataset is loaded
(:func:`check_cluster_storage`). A worker that dies (process killed, node lost) loses only its unfinished epoch: a
new actor continues the trial from its checkpoint, and the finished epochs are read from its curve.

Ray is an optional dependency (``pip install "hf-quicktune[ray]"``), imported only here and in
:mod:`hf_quicktune.run.ray_cluster` (joining a cluster).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from typing import Any

from hf_quicktune.errors import ConfigError, QuickTuneError
from hf_quicktune.run.executor import Job
from hf_quicktune.run.ray_cluster import import_ray, join_cluster
from hf_quicktune.run.state import RunState
from hf_quicktune.run.trials import Outcome, trial_curve

logger = logging.getLogger(__name__)

#: the logger of Ray's notice, at every new local runtime, that it turned its default token authentication on ("Set
#: RAY_AUTH_MODE=disabled to opt out"): the runtime is this run's own, with Ray's defaults, and the notice came
#: between the run's progress lines at every --workers run
_TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"


#: seconds :func:`check_cluster_storage` waits for the cluster's nodes to read the driver's token (a task on each,
#: which starts a Ray worker process there: seconds on a busy node) before it leaves the others to their workers
NODE_CHECK_TIMEOUT_S = 120.0

#: times a job is re-submitted after its worker died before the trial is given back to the optimizer
MAX_RESTARTS = 3


class TrialWorker:
    """One Ray actor: a :class:`~hf_quicktune.run.trials.TrialRunner` on this worker's device(s)."""

    def __init__(self, settings: dict[str, Any], output_dir: str, candidates: dict[str, Any], dataset: bytes,
                 threads: int, marker: tuple[str, str] | None = None):
        #: whether this node reads the driver's ``marker`` (path, token): the run directory is shared with it. A
        #: worker that does not is left unbuilt (nothing written, no dataset prepared) and the driver stops the run
        self.sees_run_dir, self.output_dir = marker is None or reads_token(*marker), output_dir
        if not self.sees_run_dir:
            return
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        import torch

        torch.set_num_threads(threads)
        self.threads = threads
        from hf_quicktune.run.settings import RunSettings
        from hf_quicktune.run.trials import TrialRunner

        run_settings = RunSettings(**settings)
        self._log_to(output_dir)
        try:
            data = pickle.loads(dataset)
        except OSError:  # the driver's dataset cache is not on this node: prepare it here (same seed, same split)
            from hf_quicktune.run.stages import load_dataset

            data = load_dataset(run_settings)
        self.runner = TrialRunner(run_settings, RunState(output_dir), candidates, data)

    @staticmethod
    def _log_to(output_dir: str) -> None:
        """This worker's hf_quicktune log (INFO+: e.g. a failed trial's traceback) in ``workers/<host>-<pid>.log``
        under the run directory (one file per worker: no interleaved appends on a shared filesystem)."""
        import socket

        path = os.path.join(output_dir, "workers", f"{socket.gethostname()}-{os.getpid()}.log")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        from hf_quicktune.run.session import LogFileHandler

        handler = LogFileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("hf_quicktune")
        root.addHandler(handler)
        root.setLevel(logging.INFO)

    def run(self, trial_id: int, config: dict, to_epoch: int, from_epoch: int, deadline: float | None,
            wrap_up: float | None = None) -> Outcome:
        """Train the job; ``deadline`` is a ``time.time()`` after which it stops between training steps (the epoch
        in flight discarded), ``wrap_up`` one after which the epoch in flight ends early and is kept."""
        if not self.sees_run_dir:  # a replacement for a worker that died, started on a node without the folder
            raise unseen_run_dir(self.output_dir, [self.run_dir_seen()], None) or RuntimeError("unseen run directory")
        import torch

        torch.set_num_threads(self.threads)  # this call's thread (max_concurrency > 1 runs calls in threads)
        should_stop = None if deadline is None else (lambda: time.time() > deadline)
        end_early = None if wrap_up is None else (lambda: time.time() > wrap_up)
        logger.info("job: trial %d epochs %d-%d (%s)", trial_id, from_epoch + 1, to_epoch, config.get("model"))
        outcome = self.runner.run(trial_id, config, to_epoch, from_epoch, should_stop=should_stop, end_early=end_early)
        logger.info("job: trial %d: %d epoch(s) in %.1fs%s", trial_id, len(outcome.records), outcome.wall_s,
                    " (stopped by the budget)" if outcome.stopped else "")
        return outcome

    def reschedule(self, trial_id: int, config: dict, max_epochs: int, epoch_fraction: float | None) -> None:
        """The run's schedule changed: this actor's settings build later engines on it, and its engine of
        ``trial_id`` (if it holds one) changes its horizon in place."""
        settings = self.runner.settings  # the object the runner's engine factory reads
        settings.max_epochs = int(max_epochs)
        if epoch_fraction is not None:
            settings.epoch_fraction = float(epoch_fraction)
        self.runner.reschedule(trial_id, config, max_epochs, epoch_fraction)

    def pid(self) -> int:
        return os.getpid()

    def devices(self) -> tuple[list[str], str | None]:
        """The GPU ids Ray gave this actor and the ``CUDA_VISIBLE_DEVICES`` its engine sees (what a test of the
        placement reads)."""
        import ray

        return [str(g) for g in ray.get_gpu_ids()], os.environ.get("CUDA_VISIBLE_DEVICES")

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def run_dir_seen(self) -> tuple[bool, str]:
        """(whether this worker sees the run directory, its host name)."""
        import socket

        return self.sees_run_dir, socket.gethostname()


#: the file under ``--output-dir/workers`` in which the driver writes a token that every worker must read back
RUN_DIR_MARKER = "driver-token"


def reads_token(path: str, token: str) -> bool:
    """Whether ``path`` holds ``token`` here (False when it is missing or holds another: a node whose disk is
    not the driver's)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == token
    except OSError:
        return False


def write_run_dir_marker(run_dir: str) -> tuple[str, str]:
    """A fresh token in ``run_dir/workers/driver-token`` (overwritten by each start): (its absolute path, token)."""
    import uuid

    path = os.path.join(run_dir, "workers", RUN_DIR_MARKER)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    token = uuid.uuid4().hex
    with open(path, "w", encoding="utf-8") as f:
        f.write(token)
    return path, token


def unseen_run_dir(run_dir: str, seen: list[tuple[bool, str]], address: str | None,
                   what: str = "workers") -> ConfigError | None:
    """The error that stops a run some of whose workers (``seen``: :meth:`TrialWorker.run_dir_seen` of each; or of
    the cluster's nodes, ``what="nodes"``: :func:`check_cluster_storage`) do not see its run directory: their
    checkpoints would stay on their own disks, where no other worker could continue their trials and the driver
    could not export them, found only at the end. None when every one sees it."""
    hosts = sorted({host for ok, host in seen if not ok})
    if not hosts:
        return None
    where = f"--ray-address {address}" if address else "this Ray runtime"
    whose = "workers" if what == "workers" else "nodes' workers"
    return ConfigError(
        f"--output-dir {run_dir} is not the same folder on {len(hosts)} of the nodes of {where} ({', '.join(hosts)}): "
        f"{sum(1 for ok, _ in seen if not ok)} of its {len(seen)} {what} do not see it, and the {whose} would keep "
        "their checkpoints on their own disks, where no other worker could continue their trials and this run could "
        "not export them.",
        fix="Pass an --output-dir on storage every node mounts at the same path (NFS, a mounted bucket), or drop "
            "--ray-address to train on this machine's workers.", code="ray_output_dir")


def _node_reads(path: str, token: str) -> tuple[bool, str]:
    """(whether this node reads ``token`` at ``path``, its host name): :func:`check_cluster_storage`'s task."""
    import socket

    return reads_token(path, token), socket.gethostname()


def check_cluster_storage(address: str, run_dir: str, timeout_s: float | None = None) -> None:
    """Join the cluster of ``--ray-address`` and have each of its live nodes that can host a worker (CPUs or GPUs)
    read back a token the driver wrote under ``run_dir``; raise :func:`unseen_run_dir`'s error when one cannot. The run
    calls it before it loads the dataset: the workers check it too, but only once they start, after the loading, the
    ranking and the schedule's timing (minutes on a large dataset). A node that joins later, or does not answer within
    ``timeout_s`` (:data:`NODE_CHECK_TIMEOUT_S`) or fails the task (a node lost meanwhile), is left to its worker's
    own check, with a warning that names it: a stuck node does not hold the run."""
    ray = import_ray(address)
    if not ray.is_initialized():
        join_cluster(ray, address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    path, token = write_run_dir_marker(run_dir)
    nodes = {n["NodeID"]: n.get("NodeManagerAddress") or n["NodeID"] for n in ray.nodes() if n.get("Alive") and (
        n.get("Resources", {}).get("CPU", 0) > 0 or n.get("Resources", {}).get("GPU", 0) > 0)}
    task = ray.remote(num_cpus=0, max_retries=0)(_node_reads)  # no core needed: a busy cluster still answers
    refs = {task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
        path, token): node for node in nodes}
    timeout = NODE_CHECK_TIMEOUT_S if timeout_s is None else timeout_s
    ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout) if refs else ([], [])
    seen, unchecked = [], [f"{nodes[refs[ref]]} (no answer in {timeout:.0f} s)" for ref in late]
    for ref in late:
        ray.cancel(ref)
    for ref in ready:
        try:
            seen.append(ray.get(ref))
        except Exception as exc:  # the node died or its raylet refused the task: its worker checks when it starts
            unchecked.append(f"{nodes[refs[ref]]} ({type(exc).__name__})")
    unseen = unseen_run_dir(run_dir, seen, address, what="nodes")
    if unseen is not None:
        raise unseen
    if unchecked:
        logger.warning("--output-dir %s: %d of the %d nodes of --ray-address %s were not checked: %s; a worker "
                       "started there checks it itself", run_dir, len(unchecked), len(nodes), address,
                       ", ".join(sorted(unchecked)))
    logger.info("--output-dir %s: %d nodes of --ray-address %s read the driver's token", run_dir, len(seen), address)


def plan_workers(n: int, cpus: float, gpus: float) -> tuple[int, dict[str, float], int]:
    """(workers, Ray resources per actor, threads per actor) for ``n`` workers on ``cpus`` cores and ``gpus``
    GPUs: one GPU per worker when there are as many GPUs as workers; more workers than GPUs share them
    (Ray's fractional GPUs, ``1/k`` each with ``k = ceil(n / gpus)`` workers per GPU, as Ray Tune's
    ``{"gpu": 0.5}`` does), which pays for small models that leave a big GPU idle; no GPUs: the cores
    split evenly."""
    n = max(1, int(n))
    if gpus >= 1:
        share = -(-n // int(gpus))  # workers per GPU
        if share > 1:
            logger.warning("--workers %d > %d GPUs: %d workers share each GPU (%.2f GPU each)", n, int(gpus),
                           share, 1 / share)
        threads = max(1, int(cpus // n)) if cpus else 1
        per_gpu = (10_000 // share) / 10_000  # Ray counts GPUs in units of 1e-4: k shares fit in one
        return n, {"num_gpus": per_gpu, "num_cpus": threads if threads * n <= cpus else cpus / n}, threads
    if cpus and n > cpus:  # a fraction of a core each, or Ray could not place the last actors
        logger.warning("--workers %d > %d CPU cores: the workers share the cores (one thread each)", n, int(cpus))
        return n, {"num_cpus": cpus / n}, 1
    threads = max(1, int(cpus // n)) if cpus else 1
    return n, {"num_cpus": threads}, threads


class RayExecutor:
    """One job per Ray actor (see the module docstring); the :class:`~hf_quicktune.run.executor.Executor`
    contract. Starts a local runtime unless one is running or ``settings.ray_address`` names a cluster."""

    def __init__(self, settings: Any, state: RunState, candidates: dict[str, Any], dataset: Any, reporter: Any = None,
                 num_cpus: int | None = None, num_gpus: int | None = None):
        ray = self.ray = import_ray(settings.ray_address)
        self.state = state
        self.worker_seconds = 0.0
        self._owns_runtime = False
        if not ray.is_initialized():
            if settings.ray_address:
                join_cluster(ray, settings.ray_address)
            else:
                if num_gpus is None:
                    import torch

                    num_gpus = torch.cuda.device_count()
                # address="local": always a runtime of this run's own, never a cluster some other process
                # left running on the machine (ray.init would join it and refuse num_cpus / num_gpus)
                from hf_quicktune.data.quiet import quiet_logger

                with quiet_logger(_TOKEN_NOTICE_LOGGER, logging.ERROR):  # its errors still pass
                    ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, num_gpus=num_gpus,
                             include_dashboard=False, log_to_driver=False, configure_logging=False)
                self._owns_runtime = True
        resources = ray.cluster_resources()
        self.capacity, self._resources, threads = plan_workers(settings.workers, resources.get("CPU", 1.0),
                                                               resources.get("GPU", 0.0))
        self.device = "gpu" if "num_gpus" in self._resources else "cpu"
        self._actor_cls = ray.remote(max_restarts=0)(TrialWorker)
        run_dir = str(state.dir.resolve())
        marker = write_run_dir_marker(run_dir)
        self._args = (settings.to_dict(), run_dir, candidates, pickle.dumps(dataset), threads, marker)
        self.idle = [self._new_actor() for _ in range(self.capacity)]
        self.running: dict[Any, tuple[Any, Job]] = {}
        unseen = unseen_run_dir(run_dir, ray.get([a.run_dir_seen.remote() for a in self.idle]), settings.ray_address)
        if unseen is not None:
            self.shutdown()
            raise unseen
        logger.info("Ray worker pids: %s", self.worker_pids())
        logger.info("Ray worker nodes: %s", ray.get([a.node.remote() for a in self.idle]))
        where = settings.ray_address or "a local Ray runtime"
        cpu = f"{threads} CPU thread{'s' if threads != 1 else ''} each"
        each = f"{self._resources['num_gpus']:g} GPU and {cpu}" if self.device == "gpu" else cpu
        msg = f"{self.capacity} workers on {where}: {each}"
        logger.info(msg)
        if reporter is not None:
            reporter.message(msg)

    def _new_actor(self) -> Any:
        # max_concurrency=2: pid() answers while run() trains (run is never called twice at once)
        return self._actor_cls.options(max_concurrency=2, **self._resources).remote(*self._args)

    @property
    def busy(self) -> int:
        return len(self.running)

    def submit(self, trial_id: int, config: dict[str, Any], to_epoch: int, *, from_epoch: int = 0,
               deadline_s: float | None = None, wrap_up_s: float | None = None) -> Job:
        """``deadline_s`` and ``wrap_up_s`` (seconds from now) travel as ``time.time()`` instants, the same on
        every node (clocks in sync) and kept when the job is re-submitted after its worker died."""
        job = Job(trial_id, config, to_epoch, from_epoch, deadline_s, wrap_up_s)
        now = time.time()
        job.deadline_s = None if deadline_s is None else now + deadline_s  # absolute on every node
        job.wrap_up_s = None if wrap_up_s is None else now + wrap_up_s
        self._start(job, self.idle.pop())
        return job

    def _start(self, job: Job, actor: Any) -> None:
        job.ref = actor.run.remote(job.trial_id, job.config, job.to_epoch, job.from_epoch, job.deadline_s,
                                   job.wrap_up_s)
        self.running[job.ref] = (actor, job)

    def wait(self) -> Outcome:
        ray = self.ray
        while True:
            if not self.running:
                raise RuntimeError("wait() with no job submitted")
            ready, _ = ray.wait(list(self.running), num_returns=1)
            actor, job = self.running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayTaskError as err:  # a full disk on the worker: the user's, in one paragraph
                if isinstance(err.cause, QuickTuneError):
                    raise err.cause from None
                raise
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as err:
                job.attempts += 1
                replacement = self._new_actor()
                if job.attempts > MAX_RESTARTS:
                    self.idle.append(replacement)
                    done = [r for r in trial_curve(self.state, job.trial_id) if int(r["epoch"]) > job.from_epoch]
                    return Outcome(job.trial_id, job.to_epoch, records=done,
                                   lost=f"its worker died {job.attempts} times ({type(err).__name__})")
                logger.warning("trial %d: its worker died (%s); continuing it from its checkpoint on a new worker "
                               "(pid %s)", job.trial_id, type(err).__name__, self.ray.get(replacement.pid.remote()))
                self._start(job, replacement)
                continue
            self.idle.append(actor)
            self.worker_seconds += outcome.wall_s
            return outcome

    def reschedule(self, trial_id: int, config: dict[str, Any], max_epochs: int,
                   epoch_fraction: float | None = None) -> None:
        """Every actor takes the new schedule (the one holding ``trial_id``'s engine changes it in place; the
        others build later engines on it), and so does a replacement for a worker that dies later."""
        settings = dict(self._args[0], max_epochs=int(max_epochs))
        if epoch_fraction is not None:
            settings["epoch_fraction"] = float(epoch_fraction)
        self._args = (settings, *self._args[1:])
        actors = self.idle + [a for a, _ in self.running.values()]
        self.ray.get([a.reschedule.remote(trial_id, config, max_epochs, epoch_fraction) for a in actors])

    def worker_devices(self) -> list[tuple[list[str], str | None]]:
        """Per actor: the GPU ids Ray gave it and its ``CUDA_VISIBLE_DEVICES`` (:meth:`TrialWorker.devices`)."""
        actors = self.idle + [a for a, _ in self.running.values()]
        return self.ray.get([a.devices.remote() for a in actors])

    def worker_pids(self) -> list[int]:
        """Process ids of the actors (tests kill one to check that its trial continues elsewhere)."""
        actors = self.idle + [a for a, _ in self.running.values()]
        return self.ray.get([a.pid.remote() for a in actors])

    def shutdown(self) -> None:
        for actor in self.idle + [a for a, _ in self.running.values()]:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.idle, self.running = [], {}
        if self._owns_runtime:
            self.ray.shutdown()
            self._owns_runtime = False

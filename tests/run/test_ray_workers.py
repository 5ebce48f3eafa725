"""`run --workers 2` on a real local Ray runtime (builtin:digits, tiny): trials overlap, the records are the
ones a sequential run keeps, a killed worker's trial continues from its checkpoint on a new worker, and
a SIGKILLed driver resumes with nothing trained twice."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import raw_curve_epochs

pytestmark = pytest.mark.slow

TOTAL = 3
ARGS = ["--dataset", "builtin:digits", "--zoo", "tf_efficientnet_lite0,scratch:mobilenetv3_small_050",
        "--image-size", "16", "--train-limit", "32", "--eval-limit", "32", "--rank-samples", "16", "--pool-size", "6",
        "--max-epochs", "2", "--max-epochs-total", str(TOTAL), "--budget", "30m", "--prior", "none"]
CODE = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"


def _start(out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", CODE, "run", "--output-dir", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return err


def _steps(out: Path) -> list[dict]:
    p = out / "steps.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.endswith("}")] if p.exists() else []


def _wait_for(proc, cond, timeout=400.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"run exited early ({proc.returncode}):\n{proc.communicate()[1][-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("timed out waiting for the run")


def _check_records(out: Path) -> dict[tuple[int, int], float]:
    """Every (trial, epoch) is on its curve once, in steps.jsonl once, and known to the optimizer; returns
    the scores of the ok epochs."""
    from hf_quicktune.search.serialization import load_state

    curves = {int(d.name): raw_curve_epochs(d) for d in sorted((out / "trials").iterdir())
              if (d / "curve.jsonl").exists()}
    for tid, epochs in curves.items():
        assert epochs == list(range(1, len(epochs) + 1)), f"trial {tid} curve epochs {epochs} (retrained?)"
    steps = _steps(out)
    keys = [(s["trial_id"], s["epoch"]) for s in steps]
    assert len(keys) == len(set(keys)), "an epoch was told twice"
    assert set(keys) == {(t, e) for t, es in curves.items() for e in es}
    opt = load_state(out / "optimizer")
    assert {int(t): len(st["scores"]) for t, st in opt["trials"].items() if st["scores"]} == \
        {t: len(es) for t, es in curves.items() if es}
    assert not opt.get("in_flight"), "a finished run left trials in flight"
    return {(s["trial_id"], s["epoch"]): s["score"] for s in steps if s["status"] == "ok"}


def test_two_workers_overlap_and_keep_the_records_of_a_sequential_run(tmp_path):
    par, seq = tmp_path / "par", tmp_path / "seq"
    err = _finish(_start(par, *ARGS, "--workers", "2"))
    scores = _check_records(par)
    assert len(scores) == TOTAL
    steps = _steps(par)
    # two different trials trained at the same time: their jobs' [submitted, told] intervals intersect
    jobs = {(s["trial_id"], s["job_started_s"], s["elapsed_s"]) for s in steps}
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in jobs for b in jobs), jobs
    summary = json.loads((par / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["worker_seconds"] > 0 and summary["epoch_steps"] == TOTAL
    assert "2 workers on a local Ray runtime: 1 CPU thread each" in (par / "run.log").read_text(), err[-2000:]
    assert "Token authentication is enabled" not in err  # Ray's notice about its default for the run's own runtime

    _finish(_start(seq, *ARGS))
    seq_scores = _check_records(seq)
    assert json.loads((seq / "summary.json").read_text())["workers"] == 1
    # the same trial trained on a Ray worker or in this process: the same epochs, the same accuracy
    shared = set(scores) & set(seq_scores)
    assert shared, (scores, seq_scores)
    for key in shared:
        assert scores[key] == pytest.approx(seq_scores[key], abs=1e-6), key


def test_a_killed_worker_and_a_killed_driver_lose_only_unfinished_epochs(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, *ARGS, "--workers", "2")
    log = out / "run.log"
    _wait_for(proc, lambda: log.exists() and "Ray worker pids" in log.read_text())
    pids = [int(p) for p in re.search(r"Ray worker pids: \[([\d, ]+)\]", log.read_text()).group(1).split(",")]
    # 1. a worker dies in the middle of its first job: its trial continues on a new worker
    _wait_for(proc, lambda: (out / "trials").exists() and any((out / "trials").iterdir()))
    os.kill(pids[0], signal.SIGKILL)
    _wait_for(proc, lambda: "its worker died" in log.read_text())
    # 2. the driver is SIGKILLed once an epoch is told
    _wait_for(proc, lambda: len(_steps(out)) >= 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    told_before = {(s["trial_id"], s["epoch"]) for s in _steps(out)}
    # 3. resume to the end (with the same workers)
    _finish(_start(out, "--resume"))
    scores = _check_records(out)
    assert told_before <= set(scores) and len(scores) == TOTAL
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epoch_steps"] == TOTAL and summary["stop_reason"].startswith("--max-epochs-total")
    assert json.loads((out / "state.json").read_text())["sessions"] == 2


def test_sigterm_stops_a_ray_run_as_ctrl_c_does(tmp_path):
    """After ``ray.init`` SIGTERM exited the driver (exit 15) or Ray's core worker aborted it with a stack dump
    (exit 134): the run takes the signal back and stops as on Ctrl-C, resumable, exit 143."""
    out = tmp_path / "run"
    proc = _start(out, *ARGS, "--workers", "2", "--max-epochs-total", "40")  # later options win: not done by then
    _wait_for(proc, lambda: len(_steps(out)) >= 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert "terminated (SIGTERM) after" in err and "--resume" in err
    assert "SIGTERM received" not in err and "Traceback" not in err
    assert json.loads((out / "state.json").read_text())["elapsed_s"] >= _steps(out)[-1]["elapsed_s"]


def test_a_full_disk_on_a_worker_stops_the_run_in_one_paragraph(tmp_path, monkeypatch):
    """A worker's StorageError comes back wrapped in Ray's RayTaskError: the run gives its paragraph (exit 2), not
    Ray's traceback, and marks no configuration failed."""
    monkeypatch.setenv("HF_QUICKTUNE_FAULT", "checkpoint.write:1:ENOSPC")  # every worker's first checkpoint
    out = tmp_path / "run"
    proc = _start(out, *ARGS, "--workers", "2")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, err[-3000:]
    (line,) = [x for x in err.splitlines() if x.startswith("Error: ")]
    assert "could not write" in line and "checkpoint-0001 (No space left on device; " in line
    assert f"--output-dir {out} --resume" in line and "Traceback" not in err and "RayTaskError" not in err
    assert all(s["status"] == "ok" for s in _steps(out))


def test_a_two_node_cluster_on_one_machine_runs_one_worker_per_node(tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out, address = tmp_path / "run", cluster.address
        _finish(_start(out, *ARGS, "--workers", "2", "--ray-address", address))
    finally:
        cluster.shutdown()
    assert len(_check_records(out)) == TOTAL
    log = (out / "run.log").read_text()
    nodes = re.search(r"Ray worker nodes: \[([^\]]*)\]", log).group(1).split(",")
    assert len(nodes) == 2 and len({n.strip() for n in nodes}) == 2, nodes  # one CPU each: one worker per node
    assert f"2 workers on {address}: 1 CPU thread each" in log
    assert (out / "workers" / "driver-token").exists()  # both nodes read back the driver's token (one disk here)
    worker_logs = list((out / "workers").glob("*.log"))  # each worker's own log, in the shared run directory
    # both workers trained: each log records its own jobs (logged by the worker, not the driver)
    assert len(worker_logs) == 2 and all(re.search(r"job: trial \d+ epochs \d+-\d+", p.read_text())
                                         for p in worker_logs)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLUSTER = """
import sys
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False,
                                                        "ray_client_server_port": int(sys.argv[1])})
cluster.wait_for_nodes()
print("ready", flush=True)
sys.stdin.read()  # until the test closes it
cluster.shutdown()
"""


def test_a_ray_client_address_joins_a_cluster_that_requires_its_token(tmp_path):
    """``--ray-address ray://host:port`` (Ray Client, the ``ray[client]`` extra) on a cluster with token
    authentication (Ray's default when a token exists): the driver stays here and finds the token where Ray
    keeps it (here ``RAY_AUTH_TOKEN_PATH``) without the user setting ``RAY_AUTH_MODE``; the workers are the
    cluster's actors, the run directory is shared (one machine here)."""
    import secrets

    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    port = _free_port()
    cluster = subprocess.Popen([sys.executable, "-c", CLUSTER, str(port)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True,
                               # the head's client proxy waits 30 s by default for the per-client server it
                               # starts; on a loaded 2-core CI machine (fresh venv) that start took longer once.
                               # A server that dies at once is also waited for this long before the client
                               # hears of it (then join_cluster connects again): 60 s, not more
                               env=dict(base, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
                                        RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S="60"))
    try:
        assert cluster.stdout.readline().strip() == "ready"
        out, address = tmp_path / "run", f"ray://127.0.0.1:{port}"
        run = subprocess.Popen([sys.executable, "-c", CODE, "run", "--output-dir", str(out), *ARGS, "--workers", "2",
                                "--ray-address", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(base, OMP_NUM_THREADS="1", RAY_AUTH_TOKEN_PATH=str(token)))
        _finish(run)
        worker_logs = list((out / "workers").glob("*.log"))
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=120)
    assert len(_check_records(out)) == TOTAL
    log = (out / "run.log").read_text()
    assert "Ray Client: sending this machine's Ray token" in log
    assert f"2 workers on {address}: 1 CPU thread each" in log
    # the epochs were trained by the cluster's worker processes, each logging its jobs to its own file
    assert worker_logs and any(re.search(r"job: trial \d+ epochs \d+-\d+", p.read_text()) for p in worker_logs)


@pytest.fixture
def listening():
    """A port on this machine that accepts TCP connections (the address check's part of a head that is up)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_ray_address_where_nothing_listens_is_a_usage_error_at_once():
    """ray.init on a HOST:PORT where nothing listens retries for minutes, printing Ray's connection warnings (a typo in
    --ray-address, a cluster that is down); a TCP connection to the address is tried first, and its refusal is the
    usage error, before Ray is asked."""
    import socket

    from hf_quicktune.errors import ConfigError
    from hf_quicktune.run.ray_cluster import address_endpoint, join_cluster

    class NotAsked:
        def init(self, **kwargs):
            raise AssertionError("ray.init was called on an address where nothing listens")

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # a free port: nothing listens there
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ConfigError, match=f"nothing accepted a connection at 127.0.0.1:{port} within 10 s") as err:
            join_cluster(NotAsked(), address)
        assert err.value.code == "ray_connect" and "ray status" in err.value.fix
    assert address_endpoint("ray://head:10001") == ("head", 10001)
    assert address_endpoint("[::1]:6379") == ("::1", 6379)
    assert address_endpoint("auto") is None and address_endpoint("head") is None


def test_a_ray_address_that_cannot_be_joined_is_a_usage_error(monkeypatch, listening):
    from hf_quicktune.errors import ConfigError
    from hf_quicktune.run.ray_cluster import client_auth_env, join_cluster

    class Unreachable:
        def init(self, **kwargs):
            raise ConnectionError("ray client connection timeout")

    address = f"ray://127.0.0.1:{listening}"
    with pytest.raises(ConfigError, match=f"could not join the Ray cluster at --ray-address {address}") as err:
        join_cluster(Unreachable(), address)
    assert "RAY_AUTH_MODE=token" in err.value.fix
    # set, then delete: monkeypatch restores only what it recorded, and client_auth_env sets the variable itself
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(var, "-")
        monkeypatch.delenv(var)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", "/nonexistent/token")
    client_auth_env("ray://h:1")
    assert "RAY_AUTH_MODE" not in os.environ  # no token here: nothing to send
    monkeypatch.setenv("RAY_AUTH_TOKEN", "abc")
    client_auth_env("auto")
    assert "RAY_AUTH_MODE" not in os.environ  # only Ray Client needs it
    client_auth_env("ray://h:1")
    assert os.environ["RAY_AUTH_MODE"] == "token"


def test_joining_tries_again_only_when_the_heads_client_server_failed_to_start(listening):
    from hf_quicktune.errors import ConfigError
    from hf_quicktune.run.ray_cluster import CLIENT_SERVER_FAILED, join_cluster

    class Head:
        def __init__(self, failures: int, message: str = f"Initialization failure: {CLIENT_SERVER_FAILED[0]}."):
            self.failures, self.message, self.inits, self.shutdowns = failures, message, 0, 0

        def init(self, **kwargs):
            self.inits += 1
            if self.inits <= self.failures:
                raise ConnectionError(self.message)

        def shutdown(self):
            self.shutdowns += 1

    address = f"ray://127.0.0.1:{listening}"
    flaky = Head(failures=2)
    join_cluster(flaky, address, wait_s=0.0)
    assert (flaky.inits, flaky.shutdowns) == (3, 2)  # joined on the third attempt, the failed clients shut down
    down = Head(failures=3)
    with pytest.raises(ConfigError, match=CLIENT_SERVER_FAILED[0]):
        join_cluster(down, address, wait_s=0.0)
    assert down.inits == 3
    # the same dead server, found a zombie by the proxy (its traceback, not the message above)
    zombie = Head(failures=1, message="Initialization failure from server: Traceback ... in start_specific_server "
                                      "cmd = psutil_proc.cmdline() ... psutil.ZombieProcess: PID still exists")
    join_cluster(zombie, address, wait_s=0.0)
    assert zombie.inits == 2
    wrong = Head(failures=1, message="ray client connection timeout")  # not a transient failure: no retry
    with pytest.raises(ConfigError, match="could not join"):
        join_cluster(wrong, address, wait_s=0.0)
    assert wrong.inits == 1


def test_the_executor_contract_on_a_local_ray_runtime(tmp_path):
    """RayExecutor inside this process on ``ray.init(num_cpus=2)``: two jobs run at once on two actors; a job
    whose deadline has passed stops without an epoch (the budget), a later job on the same trial trains it; a
    wrap-up time reaches the actor's engine; a re-fitted schedule reaches every actor."""
    import ray

    from hf_quicktune.run.ray_executor import RayExecutor
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.stages import load_dataset
    from hf_quicktune.run.state import RunState
    from hf_quicktune.zoo import get_candidate

    settings = RunSettings(dataset="builtin:digits", budget="10m", image_size=16, train_limit=32, eval_limit=32,
                           max_epochs=2, workers=2, output_dir=str(tmp_path / "run"))
    state = RunState(settings.output_dir)
    candidates = {"scratch:mobilenetv3_small_050": get_candidate("scratch:mobilenetv3_small_050")}
    config = {"model": "scratch:mobilenetv3_small_050", "batch_size": 16, "lr": 0.01}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ex = RayExecutor(settings, state, candidates, load_dataset(settings))
        assert (ex.capacity, ex.device, ex.busy) == (2, "cpu", 0)
        ex.submit(0, config, 1, deadline_s=0.0)
        ex.submit(1, config, 1, deadline_s=0.0)
        assert ex.busy == 2
        outs = sorted([ex.wait(), ex.wait()], key=lambda o: o.trial_id)
        assert [(o.trial_id, o.stopped, o.records) for o in outs] == [(0, True, []), (1, True, [])]
        assert ex.busy == 0 and not (state.trial_dir(0) / "curve.jsonl").exists()
        ex.submit(0, config, 1)
        out = ex.wait()
        assert not out.stopped and [r["epoch"] for r in out.records] == [1] and out.records[0]["status"] == "ok"
        assert ex.worker_seconds > 0
        # a re-fitted schedule reaches the actors: trial 0's engine in memory changes its horizon in place, and
        # an engine built later (trial 2, on whichever actor) is built on the new schedule
        ex.reschedule(0, config, 4, 0.5)
        trial_file = json.loads((state.trial_dir(0) / "trial.json").read_text())
        assert (trial_file["max_epochs"], trial_file["epoch_fraction"]) == (4, 0.5)
        ex.submit(2, config, 1)
        assert [r["epoch"] for r in ex.wait().records] == [1]
        trial_file = json.loads((state.trial_dir(2) / "trial.json").read_text())
        assert (trial_file["max_epochs"], trial_file["epoch_fraction"]) == (4, 0.5)
        # a wrap-up time reaches the actor as the engine's end_early: already past, no epoch starts, though
        # the deadline is far (without it, epoch 2 would train)
        ex.submit(0, config, 2, from_epoch=1, deadline_s=600.0, wrap_up_s=0.0)
        out = ex.wait()
        assert out.stopped and out.records == []
        ex.shutdown()
        assert ray.is_initialized()  # a runtime the executor did not start is left running
    finally:
        ray.shutdown()


def test_workers_that_do_not_see_the_run_directory_stop_the_run_when_they_start(tmp_path, monkeypatch):
    """On a cluster whose nodes do not share --output-dir, each worker would keep its checkpoints on its own disk: no
    other worker could continue its trials and the export would fail at the end of the budget. The workers read
    back a token the driver wrote in the run directory; here the path they are given does not exist on their
    "node" (what a worker on another machine meets), so the executor stops with the user's error before any job,
    and the workers are gone; the same runtime then starts workers that see it."""
    import ray

    from hf_quicktune.errors import ConfigError
    from hf_quicktune.run import ray_executor
    from hf_quicktune.run.ray_executor import RayExecutor
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.stages import load_dataset
    from hf_quicktune.run.state import RunState
    from hf_quicktune.zoo import get_candidate

    settings = RunSettings(dataset="builtin:digits", budget="10m", image_size=16, train_limit=32, eval_limit=32,
                           max_epochs=2, workers=2, output_dir=str(tmp_path / "run"))
    state = RunState(settings.output_dir)
    candidates = {"scratch:mobilenetv3_small_050": get_candidate("scratch:mobilenetv3_small_050")}
    dataset = load_dataset(settings)
    written = ray_executor.write_run_dir_marker

    def elsewhere(run_dir):  # the driver writes its token; the workers look for it where their disk has none
        _, token = written(run_dir)
        return str(tmp_path / "other-disk" / "driver-token"), token

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        monkeypatch.setattr(ray_executor, "write_run_dir_marker", elsewhere)
        with pytest.raises(ConfigError) as err:
            RayExecutor(settings, state, candidates, dataset)
        assert err.value.code == "ray_output_dir"
        assert f"--output-dir {state.dir.resolve()} is not the same folder on 1 of the nodes" in str(err.value)
        assert "2 of its 2 workers do not see it, and the workers would keep their checkpoints on their own " \
               "disks" in str(err.value)
        assert "mounts at the same path" in err.value.fix
        assert not list((state.dir / "workers").glob("*.log"))  # no worker was built: none logged
        monkeypatch.setattr(ray_executor, "write_run_dir_marker", written)
        ex = RayExecutor(settings, state, candidates, dataset)  # the run directory is this machine's: seen
        assert ex.capacity == 2 and (state.dir / "workers" / "driver-token").exists()
        ex.shutdown()
    finally:
        ray.shutdown()


def test_a_cluster_whose_nodes_do_not_see_the_output_dir_stops_the_run_before_its_dataset(tmp_path, monkeypatch,
                                                                                          caplog):
    """With --ray-address the driver joins the cluster and has each of its nodes read back its token before it loads
    the dataset (the workers' own check came after the loading, the ranking and the schedule's timing: minutes on a
    large dataset). A node without the driver's disk is simulated by a token path it does not have, as above; a node
    that hangs or fails the task is warned about and left to its worker's own check."""
    import ray

    from hf_quicktune.errors import ConfigError
    from hf_quicktune.run import loop, ray_executor
    from hf_quicktune.run.settings import RunSettings

    written = ray_executor.write_run_dir_marker

    def elsewhere(run_dir):
        _, token = written(run_dir)
        return str(tmp_path / "other-disk" / "driver-token"), token

    def no_dataset(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the cluster's nodes were checked")

    monkeypatch.setattr(loop, "_load_dataset", no_dataset)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        run_dir = tmp_path / "run"
        settings = RunSettings(dataset="builtin:digits", budget="10m", prior="none",
                               zoo="scratch:mobilenetv3_small_050", workers=2, ray_address=address,
                               output_dir=str(run_dir))
        monkeypatch.setattr(ray_executor, "write_run_dir_marker", elsewhere)
        with pytest.raises(ConfigError) as err:
            loop.run(settings)
        assert err.value.code == "ray_output_dir"
        assert f"--output-dir {run_dir.resolve()} is not the same folder on 1 of the nodes of --ray-address " \
               f"{address}" in str(err.value)
        assert "1 of its 1 nodes do not see it" in str(err.value) and "mounts at the same path" in err.value.fix
        monkeypatch.setattr(ray_executor, "write_run_dir_marker", written)
        ray_executor.check_cluster_storage(address, str(run_dir.resolve()))  # this machine's folder: seen, no error
        # a node that does not answer, or whose task fails, is named and left to its worker's check: no error
        monkeypatch.setattr(ray_executor, "_node_reads", lambda path, token: time.sleep(60))
        with caplog.at_level(logging.WARNING, logger=ray_executor.__name__):
            ray_executor.check_cluster_storage(address, str(run_dir.resolve()), timeout_s=2)
        assert "1 of the 1 nodes of --ray-address" in caplog.text and "(no answer in 2 s)" in caplog.text
        caplog.clear()

        def lost(path, token):
            raise OSError("node lost")

        monkeypatch.setattr(ray_executor, "_node_reads", lost)
        with caplog.at_level(logging.WARNING, logger=ray_executor.__name__):
            ray_executor.check_cluster_storage(address, str(run_dir.resolve()))
        assert "were not checked" in caplog.text and "(RayTaskError(OSError))" in caplog.text  # the task's error
    finally:
        ray.shutdown()


def test_a_worker_that_reads_another_token_is_left_unbuilt(tmp_path):
    """A worker whose node holds no such token file, or another token, builds nothing (no log file, no dataset) and
    reports itself unseen; the driver's own token is read back."""
    from hf_quicktune.errors import ConfigError
    from hf_quicktune.run.ray_executor import TrialWorker, reads_token, write_run_dir_marker

    path, token = write_run_dir_marker(str(tmp_path / "run"))
    assert reads_token(path, token) and not reads_token(path, "other") and not reads_token(path + "x", token)
    worker = TrialWorker({}, str(tmp_path / "elsewhere"), {}, b"not a pickle", 1, marker=(path, "other"))
    assert worker.run_dir_seen()[0] is False and not hasattr(worker, "runner")
    assert not (tmp_path / "elsewhere").exists()
    # a job given to it (a replacement for a worker that died, started on such a node) ends the run in one paragraph
    with pytest.raises(ConfigError, match="keep their checkpoints on their own disks") as err:
        worker.run(0, {"model": "m"}, 1, 0, None)
    assert err.value.code == "ray_output_dir"


@pytest.mark.parametrize("workers, per_gpu", [(2, 1), (4, 2)])
def test_each_worker_owns_one_gpu_and_more_workers_than_gpus_share_them(tmp_path, workers, per_gpu):
    """A runtime with 2 GPUs (declared to Ray: this machine has none, so the actors train on the CPU): with 2
    workers each actor holds one GPU of its own, Ray's ``CUDA_VISIBLE_DEVICES`` names only it (what the engine's
    Accelerator takes); with 4, two actors share each GPU; an actor trains a job either way."""
    import ray

    from hf_quicktune.run.ray_executor import RayExecutor
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.stages import load_dataset
    from hf_quicktune.run.state import RunState
    from hf_quicktune.zoo import get_candidate

    settings = RunSettings(dataset="builtin:digits", budget="10m", image_size=16, train_limit=32, eval_limit=32,
                           max_epochs=1, workers=workers, output_dir=str(tmp_path / "run"))
    state = RunState(settings.output_dir)
    name = "scratch:mobilenetv3_small_050"
    ray.init(num_cpus=workers, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ex = RayExecutor(settings, state, {name: get_candidate(name)}, load_dataset(settings))
        assert (ex.capacity, ex.device) == (workers, "gpu")
        placed = ex.worker_devices()
        assert all(len(ids) == 1 and visible == ids[0] for ids, visible in placed), placed
        holders = sorted(ids[0] for ids, _ in placed)
        assert holders == sorted(["0", "1"] * per_gpu)
        ex.submit(0, {"model": name, "batch_size": 16, "lr": 0.01}, 1)
        out = ex.wait()
        assert [r["epoch"] for r in out.records] == [1] and out.records[0]["status"] == "ok"
        ex.shutdown()
    finally:
        ray.shutdown()

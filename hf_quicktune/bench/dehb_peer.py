"""DEHB (Awad, Mallik & Hutter, IJCAI 2021: differential evolution inside Hyperband brackets) as an
external peer, driven through the ``dehb`` package's own ask/tell API on a finite pool.

* Search space: DEHB's unit hypercube (``cs=None, dimensions=d``), one coordinate per hyperparameter
  of :meth:`Space.from_pool` plus an on/off coordinate per hyperparameter that is sometimes ``None``.
  A vector decodes as :meth:`Hyperparameter.unscale` does (categoricals: ``k`` equal bins, like
  DEHB's own ConfigSpace decoding) and maps to the **nearest unused pool member**
  (:class:`~hf_quicktune.bench.pool_map.PoolMap`); a ``config_id`` keeps its member, so a promotion
  continues the same run.
* Fidelity: epochs, ``min_fidelity=1``, ``max_fidelity=max_epochs``, ``eta=3`` (DEHB's default); a
  job's fidelity is rounded to whole epochs. A job is one suggestion of several epochs: the member
  trains from where it stopped (its earlier epochs are not paid twice, as with checkpoints; DEHB
  itself assumes nothing about this). A job whose epochs were already observed is answered from
  them at no cost.
* Fitness (DEHB minimises): minus the accuracy at the job's last epoch; a run that ended before
  that epoch in the meta-dataset (failed) has fitness 0, the worst possible accuracy.
* The replay ends ("optimizer exhausted") when DEHB proposes a new configuration and every pool
  member is taken. DEHB's log file and state go to a temporary folder that is removed.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import numpy as np

from hf_quicktune.bench.pool_map import PoolMap
from hf_quicktune.errors import ConfigError
from hf_quicktune.search.base import OK, Optimizer, Suggestion

INSTALL_HINT = ("run `bash tools/setup_venv.sh`, or `pip install 'hf-quicktune[bench]'` and "
                "`pip install --no-deps dehb==0.1.2 syne-tune==0.16.0`")


def _import_dehb() -> Any:
    try:
        from dehb import DEHB
    except ImportError as e:
        raise ConfigError(f"the dehb peer needs the dehb package ({e}); {INSTALL_HINT}") from e
    return DEHB


class DEHBPeer(Optimizer):
    """DEHB's ask/tell on a finite pool (see the module docstring for the mapping)."""

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0, eta: int = 3):
        super().__init__(pool, max_epochs, seed)
        if self.max_epochs < 2:
            raise ConfigError("DEHB needs max_epochs >= 2 (its max fidelity must exceed its min fidelity of 1)")
        DEHB = _import_dehb()
        self.map = PoolMap(self.pool)
        self._coords = [(hp, False) for hp in self.map.hps] + [(hp, True) for hp in self.map.hps if hp.optional]
        tmp = tempfile.mkdtemp(prefix="hfqt-dehb-")
        try:
            self.dehb = DEHB(cs=None, dimensions=len(self._coords), min_fidelity=1, max_fidelity=self.max_epochs,
                             eta=eta, n_workers=1, seed=self.seed, output_path=tmp, save_freq="end",
                             log_level="WARNING")
            self.dehb.logger.remove()  # DEHB adds a loguru file sink per instance: drop it (and its stdout sink)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._member: dict[int, int] = {}  # DEHB config_id -> pool id
        self._job: tuple[dict[str, Any], int, int, float] | None = None  # (job, pool id, epochs, cost so far)
        self.jobs = 0

    def decode(self, vector: np.ndarray) -> dict[str, Any]:
        """A configuration from a point of the unit hypercube."""
        values = {hp.name: float(u) for (hp, flag), u in zip(self._coords, vector) if not flag}
        off = {hp.name for (hp, flag), u in zip(self._coords, vector) if flag and u < 0.5}
        config: dict[str, Any] = {}
        for hp in self.map.hps:
            u = min(max(values[hp.name], 0.0), 1.0)
            if hp.name in off:
                config[hp.name] = None
            elif hp.type == "categorical":
                choices = hp.choices or []
                config[hp.name] = choices[min(int(u * len(choices)), len(choices) - 1)]
            else:
                config[hp.name] = hp.unscale(u)
        return config

    def _fidelity_epochs(self, fidelity: float) -> int:
        return int(min(max(round(float(fidelity)), 1), self.max_epochs))

    def _finish(self, fitness: float) -> None:
        job, _, _, cost = self._job  # type: ignore[misc]
        self.dehb.tell(job, {"fitness": float(fitness), "cost": float(cost)})
        self._job = None

    def _ask(self) -> Suggestion | None:
        while True:
            if self._job is not None and self._job[1] in self.in_flight:
                return None  # one DEHB job at a time (n_workers=1): wait for its result
            if self._job is None:
                job = self.dehb.ask()
                self.jobs += 1
                cid = int(job["config_id"])
                tid = self._member.get(cid)
                if tid is None:
                    tid = self.map.take_nearest_unused(self.decode(np.asarray(job["config"], dtype=float)))
                    if tid is None:
                        return None  # every pool member is taken
                    self._member[cid] = tid
                self._job = (job, tid, self._fidelity_epochs(job["fidelity"]), 0.0)
            _, tid, target, _ = self._job
            st = self.trials.get(tid)
            if st is not None and st.status != OK:
                self._finish(0.0)  # the run ended before this fidelity
            elif st is not None and st.epochs >= target:
                self._finish(-st.scores[target - 1])  # already observed: no new epochs to pay
            else:
                return Suggestion(tid, dict(self.pool[tid]), target)

    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        super().tell(trial_id, epoch, score, cost, status)
        if self._job is None or self._job[1] != trial_id:
            return
        job, tid, target, spent = self._job
        self._job = (job, tid, target, spent + (float(cost) if status == OK else 0.0))
        if status != OK:
            self._finish(0.0)
        elif epoch >= target:
            self._finish(-float(score))  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(members={str(k): v for k, v in self._member.items()}, jobs=self.jobs)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError("the DEHB peer is a benchmark-only optimizer and cannot resume a DEHB run")

"""The Optuna peer and the restricted pool ("rank then tune") on the shared optimizer contract
(tests/search/contract.py, sequential and parallel parts; issue 18.6)."""

from __future__ import annotations

from search.contract import OptimizerContract  # tests/ is on sys.path (pytest prepend import mode)

from hf_quicktune.bench.optuna_peer import OptunaPeer
from hf_quicktune.bench.restricted import RestrictedPool
from hf_quicktune.search.baselines import ASHA


class TestOptunaPeerContract(OptimizerContract):
    covers_pool = False  # the Hyperband pruner stops trials for good
    resumable = False  # a benchmark-only peer: its Optuna study cannot be restored (load_state_dict raises)

    def make_optimizer(self, pool, max_epochs, seed):
        return OptunaPeer(pool, max_epochs, seed=seed, variant="tpe-hyperband")


class TestRestrictedPoolContract(OptimizerContract):
    covers_pool = False  # only the kept members are searched

    def make_optimizer(self, pool, max_epochs, seed):
        keep = [i for i in range(len(pool)) if i % 6 != 1]
        inner = ASHA([pool[i] for i in keep], max_epochs, seed=seed)
        return RestrictedPool(pool, max_epochs, keep, inner, seed=seed)

    def test_only_kept_members_are_suggested_and_release_reaches_the_inner_optimizer(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        batch = self.ask_batch(opt, self.n_workers)
        assert all(s.trial_id % 6 != 1 for s in batch)
        assert len(opt.inner.in_flight) == len(batch)
        opt.release(batch[0].trial_id)
        assert len(opt.inner.in_flight) == len(batch) - 1

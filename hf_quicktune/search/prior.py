"""A meta-learned prior: feature encoder (space + scalers), surrogate and cost-model weights.

On disk (a directory, e.g. a Hub repo's files)::

    prior.json             format/version, encoder (space, max_epochs, model vocabulary, scalers),
                           surrogate and cost-model hyperparameters, provenance
    surrogate.safetensors  DeepKernelSurrogate weights
    cost_model.safetensors CostModel weights (absent when the prior has no cost model)
    zero_shot.json         the configuration-only start's trees (:mod:`~hf_quicktune.search.zero_shot`; absent in
                           priors trained before it: their start is the surrogate's mean)

Loading from a Hub repo id is :mod:`hf_quicktune.meta`'s job; search stays free of Hub/HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hf_quicktune.errors import MetaError
from hf_quicktune.search.cost import CostModel
from hf_quicktune.search.features import FeatureEncoder
from hf_quicktune.search.surrogate import DeepKernelSurrogate
from hf_quicktune.search.zero_shot import FILE as ZERO_SHOT_FILE
from hf_quicktune.search.zero_shot import TreeEnsemble

FORMAT = "hf-quicktune-prior"
VERSION = 2  # 2: surrogate inputs gained the observed-curve fraction (extrapolating queries)


@dataclass
class Prior:
    """What meta-training produces and :class:`~hf_quicktune.search.quicktune.QuickTuneOptimizer` starts from."""

    surrogate: DeepKernelSurrogate
    cost_model: CostModel | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    zero_shot: TreeEnsemble | None = None  # the configuration-only start (search/zero_shot.py); None: the GP's mean

    @property
    def encoder(self) -> FeatureEncoder:
        return self.surrogate.encoder

    @classmethod
    def create(cls, encoder: FeatureEncoder, *, hidden: int = 32, out_dim: int = 32, seed: int = 0,
               with_cost_model: bool = True, provenance: dict[str, Any] | None = None, mean: str = "mlp"
               ) -> Prior:
        """Fresh (untrained) surrogate and cost model sharing ``encoder`` — the start of meta-training."""
        surrogate = DeepKernelSurrogate(encoder, hidden=hidden, out_dim=out_dim, seed=seed, mean=mean)
        cost = CostModel(encoder, hidden=hidden, out_dim=out_dim, seed=seed) if with_cost_model else None
        return cls(surrogate, cost, dict(provenance or {}))

    def save(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "encoder": self.encoder.to_dict(),
            "surrogate": self.surrogate.config(),
            "cost_model": self.cost_model.config() if self.cost_model is not None else None,
            "provenance": self.provenance,
        }
        save_file(self.surrogate.tensors(), str(directory / "surrogate.safetensors"))
        if self.cost_model is not None:
            save_file(self.cost_model.tensors(), str(directory / "cost_model.safetensors"))
        trees = directory / ZERO_SHOT_FILE
        if self.zero_shot is not None:
            trees.write_text(json.dumps(self.zero_shot.to_dict()))
        elif trees.exists():
            trees.unlink()  # a stale file of the prior saved here before
        (directory / "prior.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Prior:
        from safetensors.torch import load_file

        directory = Path(directory)
        path = directory / "prior.json"
        if not path.is_file():
            raise MetaError(f"{directory} is not a prior directory (no prior.json); train one with "
                            "`hf-quicktune meta train` or pass the directory it saved.")
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise MetaError(f"{path} is not valid JSON ({e}); re-save the prior.") from e
        if meta.get("format") != FORMAT or int(meta.get("version", -1)) > VERSION:
            raise MetaError(f"{path}: format {meta.get('format')!r} v{meta.get('version')} is not a prior this "
                            f"version reads ({FORMAT} v<={VERSION}); upgrade hf-quicktune or re-train the prior.")
        if int(meta.get("version", -1)) < VERSION:
            raise MetaError(f"{path}: this prior (v{meta.get('version')}) was trained by an older hf-quicktune whose "
                            f"surrogate inputs differ from this version's (v{VERSION}); re-train it with "
                            "`hf-quicktune meta train`.")
        encoder = FeatureEncoder.from_dict(meta["encoder"])
        sconf = meta["surrogate"]
        surrogate = DeepKernelSurrogate(encoder, hidden=sconf["hidden"], out_dim=sconf["out_dim"],
                                        seed=sconf.get("seed", 0), mean=sconf.get("mean", "constant"))
        try:
            surrogate.load_tensors(load_file(str(directory / "surrogate.safetensors")))
            cost = None
            if meta.get("cost_model"):
                c = meta["cost_model"]
                cost = CostModel(encoder, hidden=c["hidden"], out_dim=c["out_dim"], min_seconds=c["min_seconds"],
                                 default_seconds=c.get("default_seconds", 1.0), seed=c.get("seed", 0))
                cost.load_tensors(load_file(str(directory / "cost_model.safetensors")))
            trees = directory / ZERO_SHOT_FILE
            zero_shot = TreeEnsemble.from_dict(json.loads(trees.read_text())) if trees.is_file() else None
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            raise MetaError(f"{directory}: the prior's weights do not load ({e}); re-download or re-train it.") from e
        surrogate.mark_initial()
        if cost is not None:
            cost.mark_initial()
        return cls(surrogate, cost, dict(meta.get("provenance") or {}), zero_shot)

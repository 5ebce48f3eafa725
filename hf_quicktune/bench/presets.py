"""Named ``bench`` settings that reproduce a published protocol (``hf-quicktune bench --preset NAME``).

``quicktune-extended``: the Quick-Tune paper's evaluation on its extended meta-dataset (Arango et
al., ICLR 2024, §5): 26 Meta-Album datasets, a budget of **16 hours** of recorded fine-tuning time
per dataset (the paper's budget for the extended version; 1 h / 4 h were for micro / mini), leave-
datasets-out folds (5 folds: each meta-learned prior is trained without its fold), 5 seeds, the
shipped Quick-Tune space. Methods: the meta-learned recipe (``quicktune-recipe``: what ``run`` does
with a prior, its fold prior meta-trained like the shipped one), the same optimizer without a prior
(DyHPO), random search, SH, ASHA, Hyperband, Optuna TPE + Hyperband, and the external DEHB and
Syne Tune BOHB / ASHA implementations.
"""

from __future__ import annotations

from typing import Any

from hf_quicktune.errors import ConfigError

QUICKTUNE_EXTENDED_METHODS = (
    "quicktune-recipe", "dyhpo", "random", "sh", "asha", "hyperband", "optuna-tpe-hyperband", "dehb",
    "syne-tune-bohb", "syne-tune-asha",
)

PRESETS: dict[str, dict[str, Any]] = {
    "quicktune-extended": {
        "methods": QUICKTUNE_EXTENDED_METHODS,
        "seeds": 5,
        "folds": 5,
        "budget_seconds": 16 * 3600.0,
        "space": "quicktune",
        # the fold priors are meta-trained like the shipped prior (tools/build_default_prior.py), on the
        # datasets of the other folds only
        "meta_train": {"steps": 2000, "split": [0.8, 0.2, 0.0]},
    },
}


def preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name``'s BenchConfig fields."""
    if name not in PRESETS:
        raise ConfigError(f"unknown bench preset {name!r}; choose from {', '.join(PRESETS)}")
    return dict(PRESETS[name])

"""Rebuild the default prior shipped in the package (hf_quicktune/meta/priors/quicktune-extended).

    OMP_NUM_THREADS=1 .venv/bin/python tools/build_default_prior.py [--source ../shared/metadatasets/quicktune-extended]

Imports the Quick-Tune paper's extended meta-dataset, meta-trains a prior on it with the models
described by their descriptors (so it informs searches over any model) and the shipped search
space, 80 % of the datasets for training and 20 % for early stopping (no held-out split: the
leave-datasets-out figures come from benchmarks/prior_transfer.py), and writes it with its
provenance and this command. About a minute on one CPU core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_quicktune.meta.defaults import normalised_finals, robust_default_config  # noqa: E402
from hf_quicktune.meta.importers import import_meta_dataset  # noqa: E402
from hf_quicktune.meta.priors import DEFAULT, SHIPPED_DIR  # noqa: E402
from hf_quicktune.meta.qt_extended import CONDITIONS  # noqa: E402
from hf_quicktune.meta.train import MetaTrainConfig, meta_train  # noqa: E402
from hf_quicktune.search.space import Space  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 .venv/bin/python tools/build_default_prior.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/metadatasets/quicktune-extended")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / DEFAULT)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    md = import_meta_dataset(args.source)
    space = Space.from_yaml(ROOT / "recipes/spaces/quicktune.yaml")
    config = MetaTrainConfig(steps=args.steps, seed=args.seed, split=(0.8, 0.2, 0.0))
    result = meta_train(md, config, space=space)
    digest = hashlib.sha256()
    for f in sorted(args.source.iterdir()):
        if f.is_file():
            digest.update(f.name.encode() + f.read_bytes())
    result.prior.provenance.update(
        name=DEFAULT, command=COMMAND, source="Quick-Tune extended meta-dataset (Arango et al., ICLR 2024; "
        "rapanti/quicktune 41e6a21, BSD-3-Clause)", source_sha256=digest.hexdigest()[:16],
        import_info={k: v for k, v in md.info.items() if k != "source"})
    result.prior.save(args.out)
    default = robust_default_config(md, CONDITIONS)
    norm = normalised_finals(md)
    (args.out.parent / "robust_default.json").write_text(json.dumps({
        "config": default, "command": COMMAND, "source": result.prior.provenance["source"],
        "rule": "per hyperparameter, the value with the best mean normalised final accuracy (meta/defaults.py)",
        "mean_normalised_final_of_all_runs": round(float(norm.mean()), 4)}, indent=2))
    sizes = {f.name: f.stat().st_size for f in args.out.iterdir()}
    print(f"saved {args.out}: best step {result.best_step}, validation MSE {result.val_mse:.5f}, "
          f"initial_epochs {result.prior.provenance['initial_epochs']}, {result.seconds:.0f}s; files {sizes}")


if __name__ == "__main__":
    main()

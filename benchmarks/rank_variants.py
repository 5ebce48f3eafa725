"""Harder variants of the built-in digit sets that a user could meet, written as ImageFolder trees.

Used by ``rank_quality.py`` (``--datasets variant:NAME``). Each variant starts from the built-in
set's own seeded train/validation split (``hf_quicktune.data.load``), so its validation images are
the same digits, and goes back through ``load`` as an ordinary ImageFolder directory
(``root/train/<class>/*.png``, ``root/validation/<class>/*.png``).

- ``digits-fewshot``: builtin:digits with only 10 training images per class (validation
  unchanged): the low-data regime Deshpande et al. (2021) built their benchmark around.
- ``mnist5k-colour``: builtin:mnist5k moved to colour and texture, MNIST-M style (Ganin & Lempitsky
  2015): every digit is blended as ``|background - digit|`` per channel onto a random crop of
  one of scikit-learn's two sample photos (china.jpg, flower.jpg), in train and validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VARIANTS = ("digits-fewshot", "mnist5k-colour")


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


def build_variant(name: str, workdir: str | Path, seed: int = 0) -> str:
    """Write variant ``name`` under ``workdir`` once (reused when complete); return its directory."""
    builders = {"digits-fewshot": _fewshot, "mnist5k-colour": _colour}
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

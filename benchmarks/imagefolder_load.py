"""What reading an ImageFolder's classes from its top folders costs: datasets' ``imagefolder`` labelling each image
by the folder holding it (before) against ``hf_quicktune.data.imagefolder.load_image_folder`` (after: the files
found and decoded by datasets, labels dropped, then each image's path read back and labelled by its top
folder), in the same process, on one synthetic ``root/CLASS/IMAGE.png`` folder of tiny PNGs.

Each is timed on a fresh datasets cache (``first``: the folder globbed and its Arrow table written) and again
(``again``: the cached table read, as a second run or a ``--resume`` does), best of ``--repeats``.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/imagefolder_load.py [--images 20000] [--classes 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _write(root: Path, images: int, classes: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / f"class{i % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def _time(fn, repeats: int) -> tuple[float, float]:
    """(first call, best of ``repeats`` later calls) in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    later = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        later.append(time.perf_counter() - start)
    return first, min(later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagefolder-load-") as tmp:
        os.environ["HF_DATASETS_CACHE"] = str(Path(tmp) / "datasets-cache")
        import datasets

        from hf_quicktune.data.imagefolder import load_image_folder

        datasets.disable_progress_bars()
        root = Path(tmp) / "folder"
        _write(root, args.images, args.classes)

        def before() -> None:
            ds = datasets.load_dataset("imagefolder", data_dir=str(root))
            assert ds["train"].features["label"].num_classes == args.classes

        def after() -> None:
            splits, _ = load_image_folder(root)
            assert splits["train"].features["label"].num_classes == args.classes

        rows = [("datasets' imagefolder (before)", *_time(before, args.repeats)),
                ("top folders (after)", *_time(after, args.repeats))]
    print(f"ImageFolder of {args.images:,} 8x8 PNGs in {args.classes} classes, best of {args.repeats}")
    print(f"{'reader':32s} {'first (s)':>10s} {'again (s)':>10s}")
    for name, first, again in rows:
        print(f"{name:32s} {first:10.2f} {again:10.2f}")
    print(f"after / before: first {rows[1][1] / rows[0][1]:.2f}x, again {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()

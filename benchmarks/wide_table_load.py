"""Loading a wide table (one column per pixel, as CIFAR-10 shared as a CSV has 3,072) on this tree and a baseline
tree side by side: the seconds ``hf_quicktune.data.load`` takes from a fresh process.

Column detection read ``ds.features`` (and ``ds[column]``) once per column, and datasets deep-copies every
feature at each such access: quadratic in the columns (session 51: a 200-row CIFAR CSV spent minutes finding no
image column). The table here holds its image paths in a ``file`` column after the pixel-like numeric columns,
so both trees load it and the comparison is of the same work. Rounds alternate the trees.

With ``--npz N`` the data is instead a Keras-style ``.npz`` (``x_train``/``y_train``, ``x_test``/``y_test``) of N
28 x 28 grayscale images, loaded twice per tree: a first load (caches emptied) and a second one with the caches the
first left (what a later run or a ``--resume`` pays). Session 52: an ``.npz`` is built in memory, so datasets kept
no encoding of its pixels and every load encoded them again.

    .venv/bin/python benchmarks/wide_table_load.py [--baseline bdd876d] [--columns 3072] [--rows 200] [--rounds 2]
    .venv/bin/python benchmarks/wide_table_load.py --npz 70000 --baseline 70cb20f

With ``--hdf5 N`` the data is PatchCamelyon's layout (``camelyonpatch_level_2_split_{train,valid}_{x,y}.h5``: N
training and N / 8 validation images of 96 x 96 x 3, labels ``(N, 1, 1, 1)``), loaded twice per tree as ``--npz``'s,
with the bytes the first load left in the caches (datasets' and hf-quicktune's) and the prepared dataset's
fingerprint (the same on both trees: the same images). Session 55: the arrays went into datasets' cache as arrays
and then again as PNGs; now as PNGs only.

    .venv/bin/python benchmarks/wide_table_load.py --hdf5 20000 --baseline 2f858d2 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(path: str) -> None:
    import time

    import hf_quicktune
    from hf_quicktune.data import load

    start = time.perf_counter()
    prepared = load(path)
    print(json.dumps({"wall": time.perf_counter() - start, "images": len(prepared.train) + len(prepared.validation),
                      "column": prepared.info["image_column"], "package": str(Path(hf_quicktune.__file__).parent),
                      "fingerprint": prepared.fingerprint}))


def make_table(folder: Path, columns: int, rows: int) -> Path:
    import numpy as np
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(0)
    (folder / "img").mkdir(parents=True)
    for i in range(rows):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / "img" / f"{i}.png")
    table = pd.DataFrame(rng.integers(0, 256, (rows, columns), dtype=np.uint8), columns=[f"p{i}" for i in range(columns)])
    table["label"] = np.arange(rows) % 4
    table["file"] = [f"img/{i}.png" for i in range(rows)]
    path = folder / "wide.parquet"
    table.to_parquet(path)
    return path


def make_npz(folder: Path, images: int) -> Path:
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    x = gaussian_filter(rng.random((images, 28, 28)), (0, 1.5, 1.5))
    x = ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.uint8)
    y = rng.integers(0, 10, images)
    split = images * 6 // 7
    folder.mkdir(parents=True)
    path = folder / "mnist.npz"
    np.savez(path, x_train=x[:split], y_train=y[:split], x_test=x[split:], y_test=y[split:])
    return path


def make_hdf5(folder: Path, images: int) -> Path:
    import h5py
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, n in (("train", images), ("valid", max(1, images // 8))):
        with h5py.File(folder / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            x = f.create_dataset("x", (n, 96, 96, 3), np.uint8, chunks=(64, 96, 96, 3))
            for start in range(0, n, 1024):
                part = gaussian_filter(rng.random((min(1024, n - start), 96, 96, 3)), (0, 2, 2, 0))
                x[start:start + len(part)] = (80 + 120 * part + rng.integers(0, 30, part.shape)).clip(0, 255)
        with h5py.File(folder / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f["y"] = rng.integers(0, 2, (n, 1, 1, 1)).astype(np.uint8)
    return folder


def _bytes(*folders: Path) -> int:
    return sum(p.stat().st_size for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="bdd876d", help="the commit to compare with (a git worktree of it)")
    parser.add_argument("--columns", type=int, default=3072)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--npz", type=int, default=0, help="load an .npz of this many images instead, twice per tree")
    parser.add_argument("--hdf5", type=int, default=0, help="load PCam-like HDF5 files of this many training images")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    work = Path(tempfile.mkdtemp(prefix="wide-table-"))
    base = work / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                   check=True, capture_output=True)
    try:
        if args.hdf5:
            path = make_hdf5(work / "data", args.hdf5)
            loads = ("first load", "second load")
            print(f"PCam-like HDF5 files of {args.hdf5} + {max(1, args.hdf5 // 8)} images of 96 x 96 x 3; per load: "
                  "wall seconds of data.load in a fresh process (caches emptied before the first load of each tree), "
                  "the caches' bytes after it, the dataset's fingerprint")
        elif args.npz:
            path = make_npz(work / "data", args.npz)
            loads = ("first load", "second load")
            print(f"an .npz of {args.npz} 28 x 28 images (x_train, y_train, x_test, y_test); per load: wall seconds "
                  "of data.load in a fresh process (caches emptied before the first load of each tree)")
        else:
            path = make_table(work / "data", args.columns, args.rows)
            loads = ("load",)
            print(f"a parquet of {args.rows} rows x {args.columns} numeric columns + label + file (image paths); "
                  "per load: wall seconds of data.load in a fresh process (the datasets cache emptied first)")
        trees = {"this tree": ROOT, f"baseline {args.baseline}": base}
        for r in range(args.rounds):
            for label, tree in trees.items():
                cache = work / "hf-datasets"
                shutil.rmtree(cache, ignore_errors=True)
                env = {**os.environ, "PYTHONPATH": str(tree), "HF_DATASETS_CACHE": str(cache),
                       "HF_QUICKTUNE_CACHE": str(work / "qt-cache")}
                shutil.rmtree(work / "qt-cache", ignore_errors=True)
                for which in loads:
                    out = subprocess.run([sys.executable, __file__, "--child", str(path)], env=env,
                                         capture_output=True, text=True, check=True).stdout
                    res = json.loads(out.strip().splitlines()[-1])
                    assert Path(res["package"]).resolve().parent == tree.resolve(), res["package"]
                    cached = f", caches {_bytes(cache, work / 'qt-cache') / 1e6:.0f} MB, fingerprint " \
                        f"{res['fingerprint']}" if args.hdf5 else ""
                    print(f"round {r + 1} {label:<20} {which:<12} {res['wall']:7.2f} s ({res['images']} images, "
                          f"image column {res['column']!r}{cached})", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

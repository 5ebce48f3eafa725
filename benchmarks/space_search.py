"""Wall time of a search on the Space's defaults, the way a visitor starts it: space/app.py served on
127.0.0.1, ``/search`` called through gradio_client with the form's default values (builtin:digits, the
offline zoo, budget 3m, 32 px, 256 training images per epoch). Prints the time to the first streamed
update, to the first leaderboard row, and to the end (results ready), with the run's own budget use.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/space_search.py [--budget 3m] [--cold]

``--cold`` uses an empty feature cache (what a freshly started Space does); by default the zero-cost
ranking's features may come from ``$HF_QUICKTUNE_CACHE``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

SPACE = Path(__file__).resolve().parents[1] / "space"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default=None, help="budget (default: the Space's default)")
    parser.add_argument("--cold", action="store_true", help="empty feature cache")
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
    t0 = time.perf_counter()
    first = first_row = None
    job = client.submit(d["dataset"], None, d["zoo"], budget, d["image_size"], d["train_limit"], d["max_epochs"],
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
          f"{d['train_limit']} training images/epoch; feature cache {'cold' if args.cold else 'as found'}")
    print(f"first update {first:.1f} s, first leaderboard row {first_row:.1f} s, search done {total:.1f} s "
          f"(run's own budget use {summary['budget_used_s']:.1f} s, {summary['trials']} trials, "
          f"{summary['epoch_steps']} epoch-steps, winner {summary['best_model']} val {100 * summary['val_top1']:.2f} %)")


if __name__ == "__main__":
    main()

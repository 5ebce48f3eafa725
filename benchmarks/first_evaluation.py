"""What a process pays for its first evaluation's metric: top-k accuracy computed in the package
(``hf_quicktune.train.metrics``) against the ``evaluate`` module it replaced (``import evaluate`` and
``evaluate.load`` of a local top-k metric script, then ``compute``), in fresh processes.

Each process first imports what a trial process has already imported (torch, datasets, timm), then times only
the metric: the import of its code, its loading and one computation on 2,000 ranked predictions. Fresh
processes alternate between the two paths; the medians of ``--repeats`` each are printed side by side. The
"before" path needs ``evaluate`` (the ``bench`` extra).

    .venv/bin/python benchmarks/first_evaluation.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PREAMBLE = """
import time, torch, datasets, timm
torch.manual_seed(0)
ranked = torch.randint(0, 10, (2000, 5)); labels = torch.randint(0, 10, (2000,))
t = time.perf_counter()
"""

NOW = PREAMBLE + """
from hf_quicktune.train.metrics import topk_accuracy
out = topk_accuracy(ranked, labels, ks=(1, 5))
print(time.perf_counter() - t, out["top1"], out["top5"])
"""

BEFORE = PREAMBLE + """
import evaluate
metric = evaluate.load({path!r})
out = metric.compute(predictions=ranked.tolist(), references=labels.tolist(), ks=(1, 5))
print(time.perf_counter() - t, out["top1"], out["top5"])
"""

# the evaluate metric the package used before (an EvaluationModule script loaded from a local path)
METRIC_SCRIPT = '''
import datasets
import evaluate
import numpy as np

class TopkAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description="top-k accuracy", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("int64")),
                                        "references": datasets.Value("int64")}))

    def _compute(self, predictions, references, ks=(1, 5)):
        hits = np.asarray(predictions) == np.asarray(references)[:, None]
        return {f"top{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks if k <= hits.shape[1]}
'''


def _run(code: str) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"a timed process failed:\n{out.stderr[-2000:]}")
    seconds, top1, top5 = out.stdout.split()[-3:]
    return float(seconds), float(top1), float(top5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "topk_accuracy.py"
        script.write_text(METRIC_SCRIPT)
        before_code = BEFORE.format(path=str(script))
        times: dict[str, list[float]] = {"before (evaluate)": [], "now (package)": []}
        results = set()
        for _ in range(args.repeats):
            for name, code in (("before (evaluate)", before_code), ("now (package)", NOW)):
                seconds, top1, top5 = _run(code)
                times[name].append(seconds)
                results.add((round(top1, 6), round(top5, 6)))
    print(f"metric of a process's first evaluation, seconds in a fresh process (median of {args.repeats}; "
          "torch, datasets, timm imported before the clock starts)")
    for name, values in times.items():
        print(f"  {name:18s} {statistics.median(values):7.3f}  (min {min(values):.3f}, max {max(values):.3f})")
    before, now = (statistics.median(v) for v in times.values())
    print(f"  saved per process  {before - now:7.3f}  (before / now: {before / max(now, 1e-9):.0f}x)")
    print(f"  both paths gave the same top-1 / top-5 on the same predictions: {len(results) == 1}")


if __name__ == "__main__":
    main()

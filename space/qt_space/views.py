"""Tables, plot data and text for the page, from a run's reported steps and its files.

Live views are built from the step records the run's reporter received (``SpaceReporter.steps``)
plus the run's ``pool.json`` (hyperparameters); result views from ``summary.json``, the export and
the plots :mod:`hf_quicktune.report` wrote at the end of the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from hf_quicktune.report.curves import incumbent_trace, row_score, sort_leaderboard
from hf_quicktune.run.settings import format_seconds
from hf_quicktune.run.stage_clock import summary_stage_line
from hf_quicktune.train.metrics import metric_label
from hf_quicktune.train.records import score_of

LEADERBOARD_HEADERS = ["#", "trial", "model", "epochs", "val top-1 %", "best val %", "lr", "batch", "optimizer",
                       "status"]
#: the live plots' value columns: the run's --metric, named in the status line and the leaderboard's headers
CURVE_COLUMN, INCUMBENT_COLUMN = "validation %", "best validation %"


def leaderboard_headers(metric: str | None = "top1") -> list[str]:
    """The leaderboard's headers, its score columns named by the run's ``--metric``."""
    return [f"val {metric_label(metric)} %" if h == "val top-1 %" else h for h in LEADERBOARD_HEADERS]
RANKING_HEADERS = ["#", "candidate", "ensemble (mean rank)", "scores", "kept for the search"]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def _num(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v))


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


def plot_value(frame: pd.DataFrame) -> pd.DataFrame | None:
    """A native gradio plot's value: None instead of an empty frame (an empty frame leaves the plot
    blank even after later updates with data)."""
    return None if frame is None or frame.empty else frame


# ------------------------------------------------------------------------------------------ ranking


def ranking_table(ranking: dict[str, Any] | None) -> pd.DataFrame:
    """One row per candidate, best first: the ensemble score and the individual zero-cost scores."""
    if not ranking:
        return pd.DataFrame(columns=RANKING_HEADERS)
    kept = set(ranking.get("kept") or ranking.get("order") or [])
    rows = []
    for i, name in enumerate(ranking.get("order") or [], start=1):
        scores = ranking["table"].get(name, {})
        detail = ", ".join(f"{k} {_num(scores.get(k))}" for k in ranking.get("scores") or [] if k in scores)
        rows.append([i, name, _num(scores.get("ensemble")), detail, "yes" if name in kept else "no"])
    return pd.DataFrame(rows, columns=RANKING_HEADERS)


def ranking_bars(ranking: dict[str, Any] | None) -> pd.DataFrame:
    """Bar-chart data: candidate vs its ensemble score (mean normalised rank; higher is better)."""
    if not ranking:
        return pd.DataFrame({"candidate": [], "ensemble score": []})
    order = ranking.get("order") or []
    vals = [ranking["table"].get(n, {}).get("ensemble") for n in order]
    return pd.DataFrame({"candidate": order, "ensemble score": [float(v) if v is not None else 0.0 for v in vals]})


# ------------------------------------------------------------------------------------------ live search


def trials_on_disk(run_dir: Path, pool: list[dict[str, Any]] | None) -> tuple[list[dict], dict[int, list[dict]]]:
    """The run's own leaderboard rows and epoch records, read from its trials' curves (written as each
    epoch ends, so they run ahead of the step events when a trial trains several epochs in one step)."""
    if not pool:
        return [], {}
    from hf_quicktune.run.finalize import trial_rows
    from hf_quicktune.run.state import RunState

    try:
        return trial_rows(RunState(run_dir), pool)
    except (OSError, ValueError, KeyError):  # a curve being written: the next event re-reads it
        return [], {}


def curves_from_records(curves: dict[int, list[dict[str, Any]]], models: dict[int, str]) -> pd.DataFrame:
    """Learning curves for the live plot from trial records (the run's metric per epoch)."""
    steps = [{"epoch": r["epoch"], "score": score_of(r), "trial_id": tid, "model": models.get(tid, ""),
              "status": r.get("status", "ok")} for tid, records in curves.items() for r in records]
    return curves_frame(steps)


def curves_frame(steps: list[dict[str, Any]]) -> pd.DataFrame:
    """Learning curves for the live plot (a point per epoch): epoch vs the validation metric (%) per trial."""
    rows = [{"epoch": int(s["epoch"]), CURVE_COLUMN: 100 * float(s["score"]),
             "trial": f"{s['trial_id']} {s.get('model', '')}"}
            for s in steps if s.get("status", "ok") == "ok" and s.get("score") is not None]
    return pd.DataFrame(rows, columns=["epoch", CURVE_COLUMN, "trial"])


def incumbent_frame(steps: list[dict[str, Any]]) -> pd.DataFrame:
    """The best validation metric so far against the seconds used (hf_quicktune.report's trace)."""
    trace = incumbent_trace(steps)
    return pd.DataFrame({"seconds used": [t for t, _ in trace], INCUMBENT_COLUMN: [100 * b for _, b in trace]})


def live_leaderboard(steps: list[dict[str, Any]], pool: list[dict[str, Any]] | None,
                     metric: str = "top1") -> pd.DataFrame:
    """One row per trial that ran, in the run's leaderboard order (``sort_leaderboard``: the best validation
    ``metric`` at any epoch first, whose weights are kept and exported, so the first row is the status line's
    incumbent)."""
    trials: dict[int, dict[str, Any]] = {}
    for s in sorted(steps, key=lambda s: s["step"]):
        t = trials.setdefault(int(s["trial_id"]), {"model": s.get("model"), "scores": [], "status": "ok"})
        if s.get("status", "ok") != "ok":
            t["status"] = s["status"]
        elif s.get("score") is not None:
            t["scores"].append(float(s["score"]))
    rows = sort_leaderboard({**t, "trial_id": tid, "metric": metric, "best_val_score": max(t["scores"], default=None),
                             "last_val_score": (t["scores"] or [None])[-1]} for tid, t in trials.items())
    out = []
    for r in rows:
        cfg = pool[r["trial_id"]] if pool and r["trial_id"] < len(pool) else {}
        out.append([r["rank"], r["trial_id"], r["model"], len(r["scores"]), _pct(r["last_val_score"]),
                    _pct(r["best_val_score"]), _num(cfg.get("lr")), _num(cfg.get("batch_size")), _num(cfg.get("opt")),
                    r["status"]])
    return pd.DataFrame(out, columns=leaderboard_headers(metric))


def status_text(job) -> str:
    """What is happening now: state, budget used, trials, the incumbent, the epoch in flight, last messages."""
    rep = job.reporter
    snap = rep.snapshot or {}
    paras = [f"**{_STATE_TEXT.get(job.state, job.state)}** · run `{job.name}` · budget {job.values.get('budget')}"]
    if snap:
        c = snap.get("counts", {})
        paras.append(f"{format_seconds(snap.get('elapsed_s', 0.0))} used · {c.get('started', 0)} trials started, "
                     f"{c.get('finished', 0)} finished, {c.get('failed', 0)} failed · {snap.get('steps', 0)} "
                     "epoch-steps told to the optimizer")
        inc = snap.get("incumbent")
        if inc:
            metric = metric_label(job.values.get("metric"))
            paras.append(f"incumbent: trial {inc['trial_id']} **{inc['model']}**, validation {metric} "
                         f"**{_pct(inc['score'])}** after epoch {inc['epoch']}")
    if job.state == "running" and rep.task:
        total = f"/{rep.task_total}" if rep.task_total else ""
        paras.append(f"now training: {rep.task}, step {rep.task_done}{total}")
    if job.error:
        paras.append(f"**The run stopped with an error:** {job.error}")
    if job.state == "stopped":
        paras.append("Stopped. Everything up to the last finished epoch is saved: **Resume** continues with the "
                     "budget left, **Finish now** exports the best model found so far.")
    bullets = "\n".join(f"- {m}" for m in rep.messages[-3:])
    return "\n\n".join(paras + ([bullets] if bullets else []))


_STATE_TEXT = {"running": "Searching…", "stopped": "Stopped (resumable)", "finished": "Finished",
               "failed": "Failed", "new": "Starting…"}


# ------------------------------------------------------------------------------------------ results


def card_markdown(readme: str) -> str:
    """A model card's body for gr.Markdown: no YAML front matter, no relative image links (shown apart)."""
    body = re.sub(r"\A---\n.*?\n---\n", "", readme, flags=re.DOTALL)
    return re.sub(r"!\[[^\]]*\]\((?!https?://)[^)]*\)\n?", "", body).strip()


#: the result bars' value column (app.py's BarPlot): the run's --metric, named in the sentence beside them
SCORE_COLUMN = "score %"


def accuracy_frame(summary: dict[str, Any], num_classes: int | None) -> tuple[pd.DataFrame, str]:
    """The winner's validation metric (the run's ``--metric``: what it selected on and its quality check judged)
    against chance and the trivial (majority-class) baseline: bar data + a sentence.

    Uses the run's own ``chance`` and ``baseline`` from ``summary.json`` when it has them; else
    chance = 1 / classes (and no baseline). A summary written before the metric was recorded is top-1's."""
    quality = summary.get("quality") or {}
    metric = summary.get("metric") or "top1"
    top1 = metric == "top1" or "val_score" not in summary
    label = metric_label("top1" if top1 else metric)
    val, test = ((summary.get("val_top1"), summary.get("test_top1")) if top1
                 else (summary.get("val_score"), summary.get("test_score")))
    chance = summary.get("chance_top1", quality.get("chance_top1")) if top1 else summary.get("chance")
    if chance is None and num_classes:
        chance = 1.0 / num_classes
    base = summary.get("baseline") or quality.get("baseline") or {}
    baseline, base_class = base.get(f"val_{'top1' if top1 else metric}"), base.get("class")
    bars = [("winner (validation)", val), ("winner (test)", test), ("majority-class baseline", baseline),
            ("chance", chance)]
    frame = pd.DataFrame([{"what": k, SCORE_COLUMN: 100 * v} for k, v in bars if v is not None])
    text = (f"Validation {label} **{_pct(val)}**" + (f", test {label} **{_pct(test)}**" if test is not None else "")
            + f" — chance is {_pct(chance)}")
    if baseline is not None:
        text += f", always answering the most frequent class ('{base_class}') gets {_pct(baseline)}"
    if val is not None and chance is not None:
        beats = val > chance and (baseline is None or val > baseline)
        text += ". " + ("The winner beats both." if beats and baseline is not None else
                        "The winner beats chance." if beats else "**The winner does not beat the trivial yardsticks: "
                        "give the search a larger budget.**")
    return frame, text


def summary_markdown(summary: dict[str, Any], wall_s: float | None = None) -> str:
    lines = [f"### Winner: `{summary.get('best_model')}` (trial {summary.get('best_trial')})",
             f"{summary.get('trials')} trial{'' if summary.get('trials') == 1 else 's'}, {summary.get('epoch_steps')} "
             "epochs trained, "
             f"{format_seconds(summary.get('budget_used_s') or 0)} of the {summary.get('budget')} budget used "
             f"(search stopped: {summary.get('stop_reason')})."]
    if summary.get("best_trial_failed"):  # exported from its best epoch all the same (run/finalize.pick_incumbent)
        lines.append(f"The winner's training then {summary['best_trial_failed']}: the weights are those of its best "
                     f"epoch, {summary.get('best_epoch')}.")
    if (stages := summary_stage_line(summary)) is not None:  # where the budget went, as `run` prints it
        lines.append(f"Where the budget went, in seconds: {stages}.")
    cfg = {k: v for k, v in (summary.get("config") or {}).items() if v is not None and k != "model"}
    if cfg:
        lines.append("Hyperparameters: " + ", ".join(f"`{k}={_num(v)}`" for k, v in sorted(cfg.items())))
    return "\n\n".join(lines)


def final_leaderboard(rows: list[dict[str, Any]] | None) -> pd.DataFrame:
    """The run's leaderboard.json rows (hf_quicktune.report format) as a table, in the metric the rows name."""
    out = []
    metric = next((r["metric"] for r in rows or [] if r.get("metric")), "top1")
    for r in rows or []:
        cfg = r.get("config") or {}
        out.append([r.get("rank"), r.get("trial_id"), r.get("model"), r.get("epochs"), _pct(row_score(r, "last")),
                    _pct(row_score(r, "best")), _num(cfg.get("lr")), _num(cfg.get("batch_size")),
                    _num(cfg.get("opt")), r.get("status")])
    return pd.DataFrame(out, columns=leaderboard_headers(metric))

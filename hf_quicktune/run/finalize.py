"""The end of a run: leaderboard, plots, the incumbent's test accuracy, export + card, summary, push.

Everything is derived from the run's files (trial curves, pool, steps), so a finished run can be
re-finalised, and what is published is exactly what is on disk.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from hf_quicktune.report import curves as report
from hf_quicktune.run.state import RunState, atomic_write_json

logger = logging.getLogger(__name__)
OK = "ok"


def trial_rows(state: RunState, pool: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, list[dict]]]:
    """One leaderboard row per trial that ran (from its curve on disk), and the curves themselves."""
    from hf_quicktune.run.loop import trial_curve

    rows, all_curves = [], {}
    if not state.trials_dir.exists():
        return rows, all_curves
    for d in sorted(state.trials_dir.iterdir()):
        if not d.name.isdigit():
            continue
        tid = int(d.name)
        curve = trial_curve(state, tid)
        if not curve:
            continue
        all_curves[tid] = curve
        ok = [r for r in curve if r.get("status", OK) == OK and r.get("val_top1") is not None]
        status = next((r["status"] for r in curve if r.get("status", OK) != OK), OK)
        best = max(ok, key=lambda r: r["val_top1"]) if ok else None
        rows.append({
            "trial_id": tid, "model": pool[tid].get("model"), "status": status, "epochs": len(ok),
            "best_val_top1": best["val_top1"] if best else None, "best_epoch": best["epoch"] if best else None,
            "last_val_top1": ok[-1]["val_top1"] if ok else None, "test_top1": None,
            "seconds": round(sum(float(r.get("train_seconds", 0)) + float(r.get("eval_seconds", 0)) for r in curve), 2),
            "config": pool[tid],
        })
    return report.sort_leaderboard(rows), all_curves


def pick_incumbent(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial whose *latest checkpoint* validates best (that checkpoint is what gets exported)."""
    ok = [r for r in rows if r["status"] == OK and r["last_val_top1"] is not None]
    return ok[0] if ok else None  # rows are sorted by last_val_top1


def _write_curves(directory: Path, curves: dict[int, list[dict]], pool: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    payload = [{"trial_id": tid, "config": pool[tid], "curve": curve} for tid, curve in sorted(curves.items())]
    (directory / "curves.json").write_text(json.dumps(payload, indent=2, default=str))
    keys = ["trial_id", "model", "epoch", "val_top1", "train_seconds", "eval_seconds", "status"]
    with (directory / "curves.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(keys)
        for tid, curve in sorted(curves.items()):
            for r in curve:
                w.writerow([tid, pool[tid].get("model"), r.get("epoch"), r.get("val_top1"), r.get("train_seconds"),
                            r.get("eval_seconds"), r.get("status", OK)])


def _evaluate_test(settings, state, inc, candidates, dataset) -> float | None:
    if dataset.test is None:
        return None
    from hf_quicktune.run.loop import _make_trial

    tid = inc["trial_id"]
    trial = _make_trial(settings, state, tid, inc["config"], candidates[inc["model"]], dataset)
    result = trial.evaluate(split="test")
    if isinstance(result, dict):
        result = result.get("top1", result.get("test_top1", result.get("val_top1")))
    return None if result is None else float(result)


def _incumbent_model(settings, state, inc, candidates, dataset):
    """The incumbent's network with the weights of its latest checkpoint (built by the train engine)."""
    from hf_quicktune.train import load_model

    return load_model(state.trial_dir(inc["trial_id"]), candidates[inc["model"]], num_classes=dataset.num_classes)


def _data_config(settings, candidate) -> dict[str, Any]:
    """Preprocessing the trials used: the candidate's data config at the run's image size."""
    cfg = candidate.data_config()
    if settings.image_size:
        cfg["input_size"] = (cfg["input_size"][0], settings.image_size, settings.image_size)
    return cfg


def finalize(settings, state: RunState, opt, pool, candidates, dataset, ranking, steps, clock, stop, reporter) -> dict:
    from hf_quicktune.publish import CardInfo, build_model_card, export_timm_model, push_to_hub

    rows, all_curves = trial_rows(state, pool)
    inc = pick_incumbent(rows)
    summary: dict[str, Any] = {
        "output_dir": str(state.dir), "dataset": settings.dataset, "zoo": settings.zoo,
        "budget": settings.budget, "budget_s": settings.budget_s, "stop_reason": stop,
        "trials": len(rows), "epoch_steps": len([s for s in steps if s.get("status") == OK]),
        "candidates": ranking["kept"], "best_model": None, "hub_url": None,
    }
    if inc is not None:
        reporter.message(f"incumbent: trial {inc['trial_id']} {inc['model']} "
                         f"val {100 * inc['last_val_top1']:.2f}% after {inc['epochs']} epochs")
        test = _evaluate_test(settings, state, inc, candidates, dataset)
        inc["test_top1"] = test
        summary.update(best_model=inc["model"], best_trial=inc["trial_id"], epochs=inc["epochs"],
                       val_top1=inc["last_val_top1"], test_top1=test, config=inc["config"])
    csv_path, json_path = report.write_leaderboard(rows, state.dir)
    plots = {
        "learning_curves": str(report.plot_learning_curves(
            {tid: [r["val_top1"] for r in c if r.get("status", OK) == OK and r.get("val_top1") is not None]
             for tid, c in all_curves.items()},
            state.plots_dir / "learning_curves.png", incumbent=inc["trial_id"] if inc else None,
            labels={r["trial_id"]: r["model"] for r in rows})),
        "incumbent_over_time": str(report.plot_incumbent_over_time(
            steps, state.plots_dir / "incumbent_over_time.png", budget_s=settings.budget_s)),
    }
    summary.update(leaderboard_csv=str(csv_path), leaderboard_json=str(json_path), plots=plots)
    _write_curves(state.dir / "quicktune", all_curves, pool)

    if inc is not None:
        candidate = candidates[inc["model"]]
        export = state.export_dir
        if export.exists():
            shutil.rmtree(export)
        if candidate.library == "timm":
            model = _incumbent_model(settings, state, inc, candidates, dataset)
            export_timm_model(model, export, label_names=dataset.class_names,
                              data_config=_data_config(settings, candidate))
        else:  # transformers candidates: the train engine's own export of the checkpoint
            from hf_quicktune.train import export_trial

            export_trial(state.trial_dir(inc["trial_id"]), export)
        (export / "plots").mkdir(parents=True, exist_ok=True)
        for p in plots.values():
            shutil.copy(p, export / "plots" / Path(p).name)
        qt = export / "quicktune"
        _write_curves(qt, all_curves, pool)
        report.write_leaderboard(rows, qt)
        shutil.copy(state.settings_path, qt / "settings.json")
        shutil.copy(state.ranking_path, qt / "ranking.json")
        name = settings.push_to_hub or f"{Path(state.dir).name}-{inc['model']}"
        card = build_model_card(CardInfo(
            model_name=name, base_model=_base_model(candidate), candidate=candidate.name,
            architecture=candidate.architecture, dataset=settings.dataset,
            dataset_is_hub=_is_hub_id(settings.dataset), config=inc["config"], epochs=inc["epochs"],
            val_top1=inc["last_val_top1"], test_top1=inc["test_top1"], license=candidate.license,
            library_name=candidate.library, budget=settings.budget or "", budget_used_s=clock.elapsed,
            zoo=settings.zoo, candidates=list(ranking["kept"]), num_trials=len(rows),
            num_steps=summary["epoch_steps"], image_size=settings.image_size, leaderboard=rows,
            pretraining=candidate.pretraining,
            model_ref=None if settings.push_to_hub else f"local-dir:{export.resolve()}",
        ))
        card.save(export / "README.md")
        summary.update(export_dir=str(export), card=str(export / "README.md"))
    summary["budget_used_s"] = round(clock.elapsed, 2)
    atomic_write_json(state.summary_path, summary)
    reporter.leaderboard(rows)
    if settings.push_to_hub and inc is not None:
        reporter.message(f"pushing {state.export_dir} to {settings.push_to_hub}")
        try:
            summary["hub_url"] = push_to_hub(state.export_dir, settings.push_to_hub, private=settings.private)
        except Exception as err:
            summary["push_error"] = str(err)
            atomic_write_json(state.summary_path, summary)
            raise
        summary["budget_used_s"] = round(clock.elapsed, 2)
        atomic_write_json(state.summary_path, summary)
    return summary


def _base_model(candidate) -> str | None:
    """Hub id of the pretrained weights (``hf-hub`` candidates, or timm's ``timm/<arch>.<tag>``)."""
    if candidate.is_scratch:
        return None
    if candidate.hub_id:
        return candidate.hub_id.removeprefix("hf-hub:")
    if candidate.source == "timm" and candidate.pretrained_tag:
        return f"timm/{candidate.architecture}.{candidate.pretrained_tag}"
    return None


def _is_hub_id(spec: str) -> bool:
    import re

    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", str(spec))) and not Path(str(spec)).exists()

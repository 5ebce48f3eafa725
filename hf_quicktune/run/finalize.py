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

from hf_quicktune.meta.priors import prior_label
from hf_quicktune.report import curves as report
from hf_quicktune.run.stage_clock import StageClock
from hf_quicktune.run.state import RunState, atomic_write_json
from hf_quicktune.train.metrics import metric_label
from hf_quicktune.train.records import cost_of, score_of

logger = logging.getLogger(__name__)
OK = "ok"


def trial_rows(state: RunState, pool: list[dict[str, Any]],
               metric: str | None = None) -> tuple[list[dict[str, Any]], dict[int, list[dict]]]:
    """One leaderboard row per trial that ran (from its curve on disk), and the curves themselves. ``metric``: the
    run's (``--metric``), named on every row (default: the one its records name; a trial that failed before an
    epoch has none)."""
    from hf_quicktune.run.trials import trial_curve

    rows: list[dict[str, Any]] = []
    all_curves: dict[int, list[dict]] = {}
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
        ok = [r for r in curve if score_of(r) is not None]
        status = next((r["status"] for r in curve if r.get("status", OK) != OK), OK)
        best = max(ok, key=lambda r: score_of(r) or 0.0) if ok else None  # ties: the earliest epoch, as kept
        rows.append({
            "trial_id": tid, "model": pool[tid].get("model"), "status": status, "epochs": len(ok),
            "best_val_top1": best["val_top1"] if best else None, "best_epoch": best["epoch"] if best else None,
            "last_val_top1": ok[-1]["val_top1"] if ok else None, "test_top1": None,
            "seconds": round(sum(cost_of(r) for r in curve), 2),
            # the metric the trial was selected on (train/metrics.py) and its value at the best / last epoch;
            # the best epoch's other metrics beside it
            "metric": metric or (best or curve[-1]).get("metric") or "top1",
            "best_val_score": score_of(best) if best else None, "last_val_score": score_of(ok[-1]) if ok else None,
            "test_score": None,
            "best_val_balanced_accuracy": best.get("val_balanced_accuracy") if best else None,
            "best_val_macro_f1": best.get("val_macro_f1") if best else None,
            "config": pool[tid],
        })
    return report.sort_leaderboard(rows), all_curves


#: how a trial's failure reads after "training then" (card, summary, the run's last messages)
FAILURE_WORDS = {"diverged": "diverged (a non-finite loss)", "oom": "ran out of memory", "failed": "failed"}


def failure_after_best(row: dict[str, Any]) -> str | None:
    """``diverged (a non-finite loss) at epoch 4``: how a trial whose best epoch is kept ended later, or None for a
    trial that did not fail (its failure is the epoch after its last scored one)."""
    status = row.get("status", OK)
    if status == OK:
        return None
    return f"{FAILURE_WORDS.get(status, status)} at epoch {int(row.get('epochs') or 0) + 1}"


def pick_incumbent(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial whose *best epoch* validates best (that epoch's weights are kept and exported), in the order of
    :func:`~hf_quicktune.search.leader.incumbent`. A trial that failed after that epoch (it diverged, ran out of
    memory) keeps its weights, as transformers' ``load_best_model_at_end`` would: its failure is said (card, summary)."""
    scored = [r for r in rows if r["best_val_score"] is not None]
    return scored[0] if scored else None  # rows are sorted by best_val_score


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


def _evaluate(settings, state, inc, candidates, dataset, split: str) -> dict[str, Any] | None:
    """The incumbent's best epoch (the exported weights) on ``split``
    (:class:`~hf_quicktune.train.records.EvalScores` with its confusion matrix), or None without that split."""
    if split not in dataset.splits:
        return None
    from hf_quicktune.run.trials import make_trial

    tid = inc["trial_id"]
    trial = make_trial(settings, state, tid, inc["config"], candidates[inc["model"]], dataset)
    return dict(trial.evaluate(split=split, best=True, confusion=True))


def _validation(settings, state, inc, candidates, dataset) -> dict[str, Any] | None:
    """The exported epoch's validation confusion matrix as its checkpoint kept it (no second evaluation, so the
    end's budget reserve, which prices the test evaluation only, holds); evaluated again for a checkpoint written
    before it was kept (a run resumed from an older version)."""
    from hf_quicktune.train.checkpoint import best_checkpoint, checkpoint_confusion

    best = best_checkpoint(state.trial_dir(inc["trial_id"]))
    confusion = checkpoint_confusion(best[1]) if best is not None else None
    if confusion is not None:
        return {"confusion": confusion}
    return _evaluate(settings, state, inc, candidates, dataset, "validation")


def _per_class(state: RunState, evaluations: dict[str, dict[str, Any] | None], names: list[str],
               plots: dict[str, str], summary: dict[str, Any], reporter) -> str | None:
    """Per-class precision, recall and F1 of the exported weights on each split evaluated (``per_class.csv``), the
    validation confusion matrix plotted, the weakest classes said; returns the card's section body."""
    from hf_quicktune.report import classes

    by_split = {split: classes.per_class(ev["confusion"], names) for split, ev in evaluations.items() if ev}
    if "validation" not in by_split:
        return None
    confusion = evaluations["validation"]["confusion"]  # type: ignore[index]
    csv_path, _ = classes.write_per_class(by_split, state.dir)
    plots["confusion_matrix"] = str(classes.plot_confusion(confusion, names, state.plots_dir / "confusion_matrix.png"))
    rows = by_split["validation"]
    summary.update(per_class_csv=str(csv_path), weakest_classes=[
        {k: r[k] for k in ("class", "recall", "support")} for r in classes.weakest(rows, 3)])
    reporter.message("weakest classes (validation recall): " + classes.weakest_text(rows))
    return classes.markdown(rows, classes.top_confusions(confusion, names))


def _incumbent_model(settings, state, inc, candidates, dataset):
    """The incumbent's network with the weights of its best epoch (built by the train engine)."""
    from hf_quicktune.train import load_model

    return load_model(state.trial_dir(inc["trial_id"]), candidates[inc["model"]], num_classes=dataset.num_classes,
                      best=True)


def _data_config(settings, candidate) -> dict[str, Any]:
    """Preprocessing the trials used: the candidate's data config at the run's image size."""
    cfg = candidate.data_config()
    if settings.image_size:
        cfg["input_size"] = (cfg["input_size"][0], settings.image_size, settings.image_size)
    return cfg


def _smallest_epoch_fraction(settings, state: RunState) -> float:
    """The smallest share of the training images the run's epochs were planned on (run/schedule.py, run/refit.py)."""
    schedule = state.load_json(state.dir / "schedule.json") or {}
    planned = [schedule.get("fitted_epoch_fraction", settings.epoch_fraction), settings.epoch_fraction]
    planned += [r["epoch_fraction"] for r in schedule.get("refits") or [] if "epoch_fraction" in r]
    return float(min(planned))


def finalize(settings, state: RunState, opt, pool, candidates, dataset, ranking, steps, clock, stop, reporter,
             extra: dict[str, Any] | None = None, stages: StageClock | None = None) -> dict:
    """Leaderboard, plots, test accuracy, quality check, export + card, summary, push (in that order).
    ``extra`` joins the summary (e.g. the executor's workers and worker-seconds); ``stages``: the run's clock by
    stage, kept as ``budget_by_stage_s`` with each ``budget_used_s``.

    Raises :class:`~hf_quicktune.run.outcome.RunFailedError` when no trial produced a model and
    :class:`~hf_quicktune.run.outcome.QualityGateError` when the winner is below ``--min-accuracy``
    (after writing everything, without pushing)."""
    from hf_quicktune.run import outcome

    rows, all_curves = trial_rows(state, pool, settings.metric)
    inc = pick_incumbent(rows)
    # False: the budget was too small to search; the run fine-tuned the by-hand configuration (run/schedule.py)
    searched = bool((state.load_json(state.dir / "schedule.json") or {}).get("search", True))
    summary: dict[str, Any] = {
        "output_dir": str(state.dir), "dataset": settings.dataset, "zoo": settings.zoo,
        "budget": settings.budget, "budget_s": settings.budget_s, "stop_reason": stop,
        "trials": len(rows), "epoch_steps": len([s for s in steps if s.get("status") == OK]),
        "failed_trials": len([r for r in rows if r["status"] != OK]),
        "candidates": ranking["kept"], "searched": searched, "best_model": None, "hub_url": None,
        "prior": prior_label(settings.prior), "initial_epochs": getattr(opt, "initial_epochs", None),
        "epoch_fraction": settings.epoch_fraction,  # < 1: each epoch trained that share of the images
        "image_size": settings.image_size,  # --image-size, or the size a budget chose (run/resolution.py); None: own
        "unlabelled": dataset.info.get("unlabelled") or [],  # the dataset's unlabelled test files: to classify
        "unlabelled_splits": dataset.info.get("unlabelled_splits") or [],  # a Hub dataset's: predict --split
        # a dataset as read: a Hub dataset's commit, and under limits the files read of each split where not all
        # (of how many images, from its card) and the images kept where more were read
        **{f"dataset_{key}": dataset.info[key] for key in ("commit", "drawn_files", "drawn_sizes", "drawn_rows")
           if dataset.info.get(key)},
    }
    metric = settings.metric
    evaluations: dict[str, dict[str, Any] | None] = {}
    summary.update(extra or {})
    summary["metric"] = metric
    if inc is not None:
        shown = "" if metric == "top1" else f" {metric_label(metric)}"
        ended = failure_after_best(inc)
        reporter.message(f"incumbent: trial {inc['trial_id']} {inc['model']} val{shown} "
                         f"{100 * inc['best_val_score']:.2f}% at epoch {inc['best_epoch']} of {inc['epochs']}"
                         + (f"; training then {ended}: epoch {inc['best_epoch']}'s weights are kept" if ended else ""))
        test = _evaluate(settings, state, inc, candidates, dataset, "test")
        evaluations = {"validation": _validation(settings, state, inc, candidates, dataset), "test": test}
        inc["test_top1"] = test["top1"] if test else None
        inc["test_score"] = test[metric] if test else None
        summary.update(best_model=inc["model"], best_trial=inc["trial_id"], epochs=inc["epochs"],
                       best_epoch=inc["best_epoch"], val_top1=inc["best_val_top1"], test_top1=inc["test_top1"],
                       val_score=inc["best_val_score"], test_score=inc["test_score"],
                       val_balanced_accuracy=inc["best_val_balanced_accuracy"], val_macro_f1=inc["best_val_macro_f1"],
                       test_balanced_accuracy=test["balanced_accuracy"] if test else None,
                       test_macro_f1=test["macro_f1"] if test else None, config=inc["config"],
                       best_trial_failed=failure_after_best(inc))
    baseline = outcome.majority_baseline(dataset, settings.eval_limit, settings.seed)
    quality = outcome.quality(inc["best_val_score"] if inc else None, dataset.num_classes, baseline,
                              settings.min_accuracy, metric=metric)
    summary.update(chance_top1=quality["chance_top1"], chance=quality["chance"], baseline=baseline,
                   quality={k: quality[k] for k in ("beats_chance", "beats_baseline", "min_accuracy", "passed")})
    csv_path, json_path = report.write_leaderboard(rows, state.dir)
    plots = {
        "learning_curves": str(report.plot_learning_curves(
            {tid: [v for r in c if (v := score_of(r)) is not None] for tid, c in all_curves.items()},
            state.plots_dir / "learning_curves.png", incumbent=inc["trial_id"] if inc else None,
            labels={r["trial_id"]: r["model"] for r in rows}, metric=metric)),
        "incumbent_over_time": str(report.plot_incumbent_over_time(
            steps, state.plots_dir / "incumbent_over_time.png", budget_s=settings.budget_s, metric=metric)),
    }
    per_class_card = _per_class(state, evaluations, dataset.class_names, plots, summary, reporter)
    summary.update(leaderboard_csv=str(csv_path), leaderboard_json=str(json_path), plots=plots)
    _write_curves(state.dir / "quicktune", all_curves, pool)

    if inc is None:
        summary["error"] = outcome.failure_report(rows, steps, stop, state.log_path)
        _used(summary, clock, stages)
        atomic_write_json(state.summary_path, summary)
        if rows:  # failed trials, counted; with none, a header without rows says nothing
            reporter.leaderboard(rows)
        raise outcome.RunFailedError(summary["error"])

    reporter.message("quality: " + outcome.quality_text(quality))
    _export(settings, state, inc, rows, all_curves, pool, candidates, dataset, ranking, plots, summary, clock,
            quality, per_class_card)
    _used(summary, clock, stages)
    atomic_write_json(state.summary_path, summary)
    reporter.leaderboard(rows)
    if not quality["passed"]:
        summary["push_skipped"] = "below --min-accuracy" if settings.push_to_hub else None
        atomic_write_json(state.summary_path, summary)
        raise outcome.gate_error(quality, state.export_dir, bool(settings.push_to_hub))
    if settings.push_to_hub:
        from hf_quicktune import faults
        from hf_quicktune.publish import push_to_hub

        reporter.message(f"pushing {state.export_dir} to {settings.push_to_hub}")
        faults.point("push")
        try:
            summary["hub_url"] = push_to_hub(state.export_dir, settings.push_to_hub, private=settings.private)
        except Exception as err:
            summary["push_error"] = str(err)
            atomic_write_json(state.summary_path, summary)
            raise
        _used(summary, clock, stages)
        atomic_write_json(state.summary_path, summary)
    return summary


def _export(settings, state: RunState, inc, rows, all_curves, pool, candidates, dataset, ranking, plots,
            summary, clock, quality, per_class_card: str | None = None) -> None:
    """Write the export folder atomically: built in a temporary folder, then renamed over ``export/``
    (a kill mid-export leaves the previous export or none; the resumed run finalises again).
    ``per_class_card``: the card's per-class section (:func:`_per_class`)."""
    from hf_quicktune import faults
    from hf_quicktune.data.describe import used_splits
    from hf_quicktune.publish import CardInfo, build_model_card, export_timm_model
    from hf_quicktune.publish.local_paths import (
        local_roots,
        public_dataset,
        public_settings,
        public_value,
        scrub_text_files,
    )
    from hf_quicktune.run import outcome
    from hf_quicktune.zoo.input_size import size_args

    candidate = candidates[inc["model"]]
    final = state.export_dir
    tmp = final.with_name(f".{final.name}-tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    stats = None
    if candidate.library == "timm":
        model = _incumbent_model(settings, state, inc, candidates, dataset)
        stats = _model_stats(model, candidate, settings.image_size, dataset.num_classes)
        export_timm_model(model, tmp, label_names=dataset.class_names, data_config=_data_config(settings, candidate),
                          model_args=size_args(candidate, settings.image_size))
    else:  # transformers candidates: the train engine writes them as transformers does (save_pretrained)
        from hf_quicktune.train import export_trial

        export_trial(state.trial_dir(inc["trial_id"]), tmp, best=True, candidate=candidate)
    (tmp / "plots").mkdir(parents=True, exist_ok=True)
    for p in plots.values():
        shutil.copy(p, tmp / "plots" / Path(p).name)
    qt = tmp / "quicktune"
    _write_curves(qt, all_curves, pool)
    report.write_leaderboard(rows, qt)
    if summary.get("per_class_csv"):
        for suffix in (".csv", ".json"):
            shutil.copy(Path(summary["per_class_csv"]).with_suffix(suffix), qt)
    atomic_write_json(qt / "settings.json", public_settings(settings.to_dict()))
    ranking_file = state.load_json(state.ranking_path)
    if ranking_file is not None:  # the ranked dataset by its name, as the settings name it (local:<name>)
        atomic_write_json(qt / "ranking.json", {**ranking_file, **(
            {"dataset": public_value(ranking_file["dataset"])} if "dataset" in ranking_file else {})})
    dataset_name, dataset_is_local = public_dataset(str(settings.dataset))
    name = settings.push_to_hub or f"{Path(state.dir).name}-{inc['model']}".replace(":", "-")
    prior = prior_label(settings.prior)
    card = build_model_card(CardInfo(
        model_name=name, base_model=_base_model(candidate), candidate=candidate.name,
        architecture=candidate.architecture, dataset=dataset_name, dataset_is_local=dataset_is_local,
        dataset_local_kind=("folder" if Path(str(settings.dataset)).expanduser().is_dir() else "file")
        if dataset_is_local else None,
        dataset_is_hub=not dataset_is_local and _is_hub_id(settings.dataset), config=inc["config"],
        epochs=inc["epochs"], best_epoch=inc["best_epoch"], failed_after=failure_after_best(inc),
        val_top1=inc["best_val_top1"],
        test_top1=inc["test_top1"], license=candidate.license, library_name=candidate.library,
        budget=settings.budget or "", budget_used_s=clock.elapsed, zoo=settings.zoo,
        candidates=list(ranking["kept"]), num_trials=len(rows), num_steps=summary["epoch_steps"],
        image_size=settings.image_size, leaderboard=rows, pretraining=candidate.pretraining,
        from_scratch=candidate.is_scratch, quality=outcome.quality_text(quality),
        prior=public_dataset(prior)[0] if prior else None, epoch_fraction=_smallest_epoch_fraction(settings, state),
        searched=bool(summary.get("searched", True)),
        # the folder holding the card, relative to where the run was started (never an absolute path)
        model_ref=None if settings.push_to_hub else (
            f"{Path(state.dir).name}/{final.name}" if candidate.library == "transformers"
            else f"local-dir:{Path(state.dir).name}/{final.name}"),
        interpolate_pos_encoding=_interpolates(tmp), stats=stats, metric=settings.metric,
        image_mode=dataset.info.get("image_mode"), image_format=dataset.info.get("image_format"),
        scores={k: summary.get(k) for k in ("val_balanced_accuracy", "val_macro_f1", "test_balanced_accuracy",
                                            "test_macro_f1")},
        per_class=per_class_card, class_names=dataset.class_names,
        data_splits=used_splits(dataset.info, {name: len(ds) for name, ds in dataset.splits.items()},
                                settings.train_limit, settings.eval_limit),
        dataset_config=dataset.info.get("config"), dataset_revision=dataset.info.get("revision"),
        dataset_commit=dataset.info.get("commit"),
    ))
    card.save(tmp / "README.md")
    scrub_text_files(tmp, local_roots([settings.dataset, state.dir, settings.space, settings.prior, Path.cwd()]))
    faults.point("export.write")
    old = final.with_name(f".{final.name}-old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    summary.update(export_dir=str(final), card=str(final / "README.md"), export_format=candidate.library)


def _model_stats(model, candidate, image_size: int | None, num_classes: int) -> dict[str, float]:
    """The exported timm model's parameters and one forward pass's cost at the size it was trained at (the card's
    "Model stats", as timm's cards list them)."""
    from hf_quicktune.zoo.forward_cost import candidate_cost

    size = int(image_size or (candidate.input_size[-1] if candidate.input_size else 224))
    stats = {"params_m": sum(p.numel() for p in model.parameters()) / 1e6, "image_size": float(size)}
    cost = candidate_cost(candidate, image_size, num_classes)
    if cost is not None:
        stats.update(gmacs=cost.gflops / 2, macts=cost.activations_m)
    return stats


def _interpolates(export: Path) -> bool:
    """Whether the exported (transformers) model runs at its fine-tuned size with ``interpolate_pos_encoding``."""
    config = json.loads((export / "config.json").read_text(encoding="utf-8"))
    return bool((config.get("hf_quicktune") or {}).get("interpolate_pos_encoding"))


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


def _used(summary: dict, clock, stages: StageClock | None) -> None:
    """The budget used so far, and by stage (run/stage_clock.py), into ``summary``."""
    summary["budget_used_s"] = round(clock.elapsed, 2)
    if stages is not None:
        summary["budget_by_stage_s"] = stages.totals()

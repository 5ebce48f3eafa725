"""``hf-quicktune run`` and ``hf-quicktune demo`` (click commands; heavy imports inside the bodies)."""

from __future__ import annotations

import json
import shlex
import shutil
import time
from pathlib import Path

import click

from hf_quicktune.commands.options import dataset_options
from hf_quicktune.errors import ConfigError
from hf_quicktune.run.settings import DEMO_SETTINGS


def _given(ctx: click.Context) -> set[str]:
    """Names of the options given on the command line or by an ``HF_QUICKTUNE_RUN_*`` environment
    variable (they win over the recipe)."""
    from click.core import ParameterSource

    from hf_quicktune.run.settings import RunSettings

    # every run setting (not a hand-kept list that drifts): on --resume each is applied or refused
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k for k in RunSettings.keys() if k in ctx.params and ctx.get_parameter_source(k) in given}


def _finish(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    out = Path(summary["output_dir"])
    metric = summary.get("metric") or "top1"
    chosen = ""
    if metric != "top1" and summary.get("val_score") is not None:
        from hf_quicktune.train.metrics import metric_label

        chosen = f"val {metric_label(metric)} {100 * summary['val_score']:.2f}%" + (
            f" (test {100 * summary['test_score']:.2f}%)" if summary.get("test_score") is not None else "") + ", "
    click.echo(f"\nbest: {summary.get('best_model')} (trial {summary.get('best_trial')}), {chosen}"
               f"val top-1 {100 * (summary.get('val_top1') or 0):.2f}%"
               + (f", test top-1 {100 * summary['test_top1']:.2f}%" if summary.get("test_top1") is not None else "")
               + (f" at epoch {summary.get('best_epoch')} (training then {summary['best_trial_failed']})"
                  if summary.get("best_trial_failed") else "")
               + f"; {summary.get('budget_used_s', 0):.0f}s used, {summary.get('epoch_steps')} epoch-steps, "
               f"{summary.get('trials')} trial{'' if summary.get('trials') == 1 else 's'}; stopped: {summary.get('stop_reason')}")
    if summary.get("export_dir"):
        click.echo(f"model:       {summary['export_dir']}/model.safetensors "
                   f"(+ config.json, {summary.get('export_format') or 'timm'} format)")
        click.echo(f"card:        {summary['card']}")
        unlabelled = summary.get("unlabelled") or []
        inputs = " ".join(shlex.quote(p) for p in unlabelled) or "IMAGES_OR_FOLDERS..."
        if summary.get("unlabelled_splits") and not unlabelled:  # a Hub dataset's unlabelled test split
            inputs = f"{shlex.quote(str(summary['dataset']))} --split {shlex.quote(summary['unlabelled_splits'][0])}"
        template, aside = _submission_template(unlabelled, Path(summary["export_dir"]))
        click.echo(f"classify:    hf-quicktune predict {shlex.quote(str(summary['output_dir']))} {inputs} "
                   + (f"--submission {shlex.quote(str(template))} -o submission.csv" if template else
                      "-o predictions.csv"))
        if aside:
            click.echo(f"             ({aside})")
    for name, path in (summary.get("plots") or {}).items():
        click.echo(f"plot:        {path} ({name.replace('_', ' ')})")
    from hf_quicktune.run.stage_clock import summary_stage_line

    if (line := summary_stage_line(summary)) is not None:
        click.echo(f"budget:      {line}")
    if (summary.get("workers") or 1) > 1:
        gpu = " (GPU-seconds)" if summary.get("gpu_seconds") is not None else ""
        click.echo(f"workers:     {summary['workers']}, {summary.get('worker_seconds', 0):.0f} worker-seconds{gpu} "
                   f"in {summary.get('budget_used_s', 0):.0f}s of wall-clock")
    click.echo(f"leaderboard: {summary.get('leaderboard_csv')}")
    click.echo(f"summary:     {out / 'summary.json'}")
    if summary.get("hub_url"):
        click.echo(f"hub:         {summary['hub_url']}")


def _execute(settings, resume: bool, given: set[str], as_json: bool, started_at: float) -> None:
    from hf_quicktune.run.settings import check_output_dir

    check_output_dir(settings.output_dir)  # before anything slow: fail in milliseconds
    if not resume:  # a resumed run reads its dataset from settings.json
        from hf_quicktune.data.sources import check_dataset_spec

        check_dataset_spec(settings.dataset)
    if settings.workers > 1 or settings.ray_address:  # Ray installed? (not imported here)
        from hf_quicktune.run.ray_cluster import check_available

        check_available()
    if settings.push_to_hub:  # token and write access now, not after the budget is spent
        from hf_quicktune.hub import check_write_access

        # "name" alone is the token's user's: the run publishes (and its card names) the whole id
        settings.push_to_hub = check_write_access(settings.push_to_hub, private=bool(settings.private))
    from hf_quicktune.run import run as run_search
    from hf_quicktune.run.progress import make_reporter

    summary = run_search(settings, resume=resume, given=given, reporter=make_reporter(), started_at=started_at)
    _finish(summary, as_json)


@click.command("run")
@click.option("--dataset", "-d", help="Hub id (org/name), image folder, parquet/CSV/JSON file (image paths, bytes or pixels), a NumPy .npz, HDF5 files (.h5: one, or a folder of them), a zip or tar archive of these, WebDataset .tar shards (one, or a folder of them by split), or builtin:digits.")
@dataset_options
@click.option("--zoo", help="Candidate zoo: a name in recipes/zoos (default, offline, ...) or a query. [default: default]")
@click.option("--budget", help="Wall-clock budget including ranking and search overhead: 90s, 30m, 2h, 1h30m, "
                               "'2 hours', 1:30:00 or Slurm's 1-12:00:00. "
                               "Required unless --max-trials or --max-epochs-total is given.")
@click.option("--max-trials", type=int, help="Try at most this many distinct trials (configurations); once they "
                                             "have started, the best of them trains to the end of its schedule "
                                             "(--max-epochs), then the run stops.")
@click.option("--max-epochs-total", type=int, help="Stop after this many epoch-steps in total.")
@click.option("--prior", help="Meta-learned prior: `default` (shipped: learnt from 4,665 real fine-tuning curves "
                             "of the Quick-Tune paper), `none`, a local prior folder or a Hub id (org/prior). "
                             "[default: default]")
@click.option("--space", help="Search-space YAML. [default: recipes/spaces/quicktune.yaml]")
@click.option("--max-epochs", type=int, help="Epochs of a trial's schedule (its learning-rate schedule and the most it trains). [default: 50, "
              "or fewer when --budget cannot finish a 50-epoch trial (half of the budget left after ranking, "
              "at the timed epoch cost of the best-ranked model), or more on a small training set when the budget "
              "buys them (up to the epochs that show 48,000 images); a budget of fewer than 40 such epochs is not "
              "searched: one fine-tune of the fastest kept pretrained model, with the by-hand configuration, takes "
              "all of it, re-fitted after each epoch]")
@click.option("--top-k", type=int, help="Keep the k best candidates of the zero-cost ranking. [default: 8]")
@click.option("--output-dir", "-o", help="Where everything of the run goes. [default: runs/<dataset>-<time>]")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --output-dir from its last completed epoch.")
@click.option("--push-to-hub", help="Publish the winner to this model repo (org/name; a bare name is your own "
                                    "namespace), in one commit.")
@click.option("--private", is_flag=True, default=None, help="Create the Hub repo as private.")
@click.option("--recipe", help="YAML file with the same keys as these options (options given here win).")
@click.option("--seed", type=int, help="Random seed. [default: 0]")
@click.option("--image-size", type=int, help="Train and evaluate at this input size (px); small sizes for CPU.")
@click.option("--train-limit", type=int, help="Cap on training examples per epoch (a fixed subset). A dataset in "
              "many files (a Hub repo, a local folder of shards) is read in part: enough files for the limits.")
@click.option("--eval-limit", type=int, help="Cap on validation (and test) examples per evaluation.")
@click.option("--pool-size", type=int, help="Number of configurations the optimizer chooses from. [default: 128]")
@click.option("--rank-samples", type=int, help="Training images used by the zero-cost ranking. [default: 256]")
@click.option("--allow-pickle", is_flag=True, default=None,
              help="Load candidates whose checkpoints are pickled (not safetensors). Only for sources you trust.")
@click.option("--estimate-cost/--no-estimate-cost", default=None,
              help="Time a few training steps per kept candidate first (seconds); the first trial, the "
                   "schedule and the optimizer's cost model start from these seconds-per-epoch predictions "
                   "instead of knowing nothing. [default: on]")
@click.option("--score-features/--no-score-features", default=None,
              help="Describe each candidate to the optimizer's surrogate by its zero-cost ranking scores too (next "
                   "to parameter count, input size, family). Only with --prior none: a prior keeps the model "
                   "features it was meta-trained with, and the shipped one has no scores. [default: off: no gain "
                   "measured in real searches, benchmarks/run_ablation.py]")
@click.option("--acquisition", type=click.Choice(["ei_per_cost", "ei", "ucb"]),
              help="Acquisition of the optimizer: expected improvement per predicted second (Quick-Tune), "
                   "plain expected improvement, or UCB. [default: ei_per_cost]")
@click.option("--horizon", type=click.Choice(["next", "max"]),
              help="Score each trial at its next epoch (Quick-Tune) or at --max-epochs, extrapolated from its "
                   "curve so far (needs a --prior meta-trained by this version). [default: next]")
@click.option("--initial-epochs", type=int,
              help="Epochs a new trial trains before the optimizer compares it with the others again. Raise it "
                   "when the first epochs say little about the final ranking (from-scratch training, long "
                   "schedules). [default: the prior's, learnt from its meta-dataset (the first epoch that ranks "
                   "configurations like the final one) as the same share of --max-epochs; 1 without a prior]")
@click.option("--metric", type=click.Choice(["top1", "balanced_accuracy", "macro_f1"]),
              help="Validation metric the search maximises and the winner is chosen by (each trial's best epoch "
                   "too): top-1 accuracy, balanced accuracy (mean per-class recall) or macro F1. Every metric is "
                   "recorded and reported either way. On two long-tailed sets (benchmarks/metric_selection.py) "
                   "selecting on balanced accuracy did not beat top-1 on a balanced test split (it lost on one): "
                   "with a few validation images of the rare classes it is the noisier signal. [default: top1]")
@click.option("--min-accuracy",
              help="Quality gate: when the winner's validation --metric is below this fraction (e.g. 0.9, or 90%), "
                   "do not push and exit with code 2 (the export stays in --output-dir). The run always "
                   "reports the winner against chance and a majority-class baseline.")
@click.option("--workers", type=int,
              help="Train this many trials at once on Ray (needs `pip install hf-quicktune[ray]`): one worker per "
                   "GPU when there are GPUs, else CPU workers with the cores split between them. The budget stays "
                   "wall-clock. [default: 1, in this process, without Ray]")
@click.option("--ray-address",
              help="Join a running Ray cluster (`auto`, or ray://host:port) instead of starting one here. "
                   "--output-dir must then be a filesystem path every node sees (e.g. NFS); URLs are not supported.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout (for CI).")
@click.pass_context
def run(ctx: click.Context, recipe: str | None, resume: bool, as_json: bool, **options) -> None:
    """Search models and hyperparameters under a budget, fine-tune, publish the winner.

    \b
    Example:
      hf-quicktune run --dataset org/name --zoo default --budget 2h --push-to-hub org/model
    """
    started_at = time.monotonic()  # the budget counts from here: imports, data, ranking, search, export
    from hf_quicktune.run.settings import resolve_settings

    given = _given(ctx)
    if resume:
        if not options.get("output_dir"):
            raise ConfigError("--resume needs the --output-dir of the run to continue.")
        from hf_quicktune.run.settings import RunSettings

        stored = Path(options["output_dir"]) / "settings.json"
        if not stored.exists():
            raise ConfigError(f"--resume: no run found in {options['output_dir']} (settings.json is missing). "
                              "Check --output-dir, or drop --resume to start a new run.")
        from hf_quicktune.run.state import RunState

        base = RunState(options["output_dir"]).load_settings()  # unreadable or not JSON: one paragraph, exit 2
        if recipe is not None:  # the recipe's keys count as given: applied or refused like options
            from hf_quicktune.run.settings import load_recipe

            recipe_values = load_recipe(recipe)
            base.update(recipe_values)
            base.update({k: v for k, v in options.items() if k in given})  # the command line wins
            given = given | set(recipe_values)
        else:
            base.update({k: v for k, v in options.items() if k in given})
        settings = RunSettings(**{k: v for k, v in base.items() if k in RunSettings.keys()}).validate()
    else:
        settings = resolve_settings(options, recipe)
    _execute(settings, resume, given, as_json, started_at)


@click.command("demo")
@click.option("--output-dir", default=DEMO_SETTINGS["output_dir"], show_default=True, help="Where the demo writes.")
@click.option("--budget", default=DEMO_SETTINGS["budget"], show_default=True, help="Wall-clock budget.")
@click.option("--resume", is_flag=True, help="Continue an interrupted demo.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def demo(output_dir: str, budget: str, resume: bool, as_json: bool) -> None:
    """Run the whole pipeline offline: builtin:digits, the offline zoo, about 3 minutes on 2 CPU cores."""
    started_at = time.monotonic()
    from hf_quicktune.run.settings import RunSettings

    settings = RunSettings(**{**DEMO_SETTINGS, "output_dir": output_dir, "budget": budget}).validate()
    out = Path(output_dir)
    if not resume and out.exists() and any(out.iterdir()):
        from hf_quicktune.run.state import RunLock, RunLockedError

        holder = RunLock(out).holder()
        if holder is not None:
            raise RunLockedError(f"{out} is in use by another hf-quicktune run ({holder}); the demo does not "
                                 "replace it. Wait for it to finish, or pass another --output-dir.")
        if not (out / "settings.json").exists():
            raise ConfigError(f"{out} exists and is not a hf-quicktune demo directory. Pass another --output-dir.")
        click.echo(f"replacing the previous demo in {out}", err=True)
        shutil.rmtree(out)
    _execute(settings, resume, {"budget"}, as_json, started_at)


def _submission_template(unlabelled: list[str], export_dir: Path) -> tuple[Path | None, str | None]:
    """A competition's submission template beside its unlabelled test files (``sample_submission.csv``), if one and
    if this run's model can fill it; else None; and why not where there is one it cannot fill (a detection
    competition's boxes: :func:`hf_quicktune.submission.template_kind`), or what to know to fill it (a two-class
    template of whole numbers: :func:`hf_quicktune.submission.class_placeholder_note`)."""
    from hf_quicktune.data.archives import is_submission
    from hf_quicktune.errors import DatasetError
    from hf_quicktune.submission import class_placeholder_note, read_template, template_kind

    for folder in dict.fromkeys(Path(p).parent for p in unlabelled):
        found = sorted(f for f in folder.glob("*.csv") if is_submission(f)) if folder.is_dir() else []
        if len(found) == 1:
            labels = _class_names(export_dir)
            try:
                frame = read_template(found[0])
                template_kind(frame, labels, found[0].name)
            except DatasetError as err:
                return None, f"no --submission: {err}"
            if class_placeholder_note(frame, labels) is not None:  # SIIM-ISIC's target 0: classes or AUC?
                return found[0], (f"{frame.columns[1]} gets each image's class; add --probability-of {labels[1]} "
                                  "if the competition is scored on AUC or log loss")
            return found[0], None
    return None, None


def _class_names(export_dir: Path) -> list[str]:
    """The exported model's class names, from its config.json (timm's ``label_names``, transformers' ``id2label``)."""
    try:
        config = json.loads((export_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if isinstance(config.get("label_names"), list):
        return [str(n) for n in config["label_names"]]
    id2label = config.get("id2label") or {}
    return [str(v) for _, v in sorted((int(k), v) for k, v in id2label.items())]

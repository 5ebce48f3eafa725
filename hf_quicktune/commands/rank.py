"""``hf-quicktune rank --dataset D --zoo Z``: zero-training scores of every candidate (issue 5).

Heavy imports (torch, timm, datasets) happen inside the command body.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

from hf_quicktune.commands.options import dataset_options


def _fmt_params(n) -> str:
    if not n:
        return "?"
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.0f}k"


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"


@click.command("rank")
@click.option(
    "--dataset",
    "-d",
    required=True,
    help="Hub id (org/name), image folder, parquet/CSV/JSON file (image paths, bytes or pixels), a NumPy .npz, HDF5 files (.h5: one, or a folder of them), a zip or tar archive of these, WebDataset .tar shards (one, or a folder of them by split), or builtin:digits.",
)
@dataset_options
@click.option(
    "--zoo",
    "zoo_name",
    default="default",
    show_default=True,
    help="Candidate zoo: a name in recipes/zoos (default, tiny, offline), a zoo YAML path, or a hub: query.",
)
@click.option(
    "--n",
    "n",
    default=1000,
    show_default=True,
    type=click.IntRange(min=2),
    help="Training images sampled (stratified) for the scores; all of them if the split is smaller.",
)
@click.option(
    "--scores",
    default="lfc,logme,knn",
    show_default=True,
    help="Comma-separated: lfc, logme, knn, lgc (gradient pass, slower), linpred (predicted training loss, slow-ish), leep, nce (need a source head).",
)
@click.option(
    "--sort-by", default=None, help="Score to sort by. [default: ensemble, or the only score given]"
)
@click.option(
    "--image-size", type=int, default=None, help="Input size in px (default: each model's own; small on CPU)."
)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--time-limit", default=None,
    help="Wall-clock limit of the forward passes (90s, 5m): when the candidates left would overrun it, every "
         "candidate is scored on a smaller stratified subset of the sample (cheapest pretrained candidates first, then "
         "the random-init baselines; a `run` gives its ranking 15 % of --budget this way); one that would overrun it "
         "even on the smallest sample (two images per class) is not scored and ranked last. [default: none]",
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed of the sample (and of random-init baselines)."
)
@click.option("--top-k", type=click.IntRange(min=1), default=None,
              help="Say which candidates `run --top-k K` would keep (the K best pretrained by the ensemble, plus every "
                   "random-init baseline) and which it would drop. [default: not shown]")
@click.option("--no-cache", is_flag=True, help="Recompute features even when cached.")
@click.option("--allow-pickle", is_flag=True, help="Load pickled (non-safetensors) checkpoints. Only for sources you trust.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (machine-readable) instead of a table.")
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Write a PNG bar chart here."
)
def rank(
    dataset: str,
    zoo_name: str,
    n: int,
    scores: str,
    sort_by: str | None,
    image_size: int | None,
    batch_size: int,
    time_limit: str | None,
    seed: int,
    top_k: int | None,
    no_cache: bool,
    allow_pickle: bool,
    as_json: bool,
    plot_path: str | None,
    **dataset_opts,
) -> None:
    """Rank candidate models for DATASET without training: one forward pass over a sample of
    training images, then transferability scores (all higher-is-better) and their mean-rank
    ensemble. Features are cached, so a second call (or a later `run`) is instant.

    \b
    Example (offline, ~1 min on CPU):
      hf-quicktune rank --dataset builtin:digits --zoo offline --n 300 --image-size 64 --plot rank.png
    """
    from hf_quicktune.errors import ConfigError
    from hf_quicktune.rank import parse_scores
    from hf_quicktune.run.settings import parse_budget

    score_names = parse_scores(scores)
    seconds = parse_budget(time_limit, "--time-limit") if time_limit is not None else None
    if plot_path:
        from hf_quicktune.run.settings import check_output_file

        check_output_file(plot_path, "--plot")  # now, not after the ranking
    sort_key = sort_by or (score_names[0] if len(score_names) == 1 else "ensemble")
    if sort_key != "ensemble" and sort_key not in score_names:
        raise ConfigError(
            f"--sort-by {sort_key} is not among --scores {','.join(score_names)}; add it or pick one of them."
        )

    from hf_quicktune.data import load
    from hf_quicktune.data.options import load_kwargs
    from hf_quicktune.rank import LOAD_ROWS_OVER
    from hf_quicktune.rank import rank as rank_candidates
    from hf_quicktune.zoo import allow_pickle as trust_pickle
    from hf_quicktune.zoo import load_zoo

    err_console = _console(stderr=True)
    with err_console.status(f"loading {dataset}") as status:
        # the ranking reads n training images: of a Hub dataset in many files, enough files for them; every row
        # read is kept unless there are far more (LOAD_ROWS_OVER: a later run reads these features)
        data = load(dataset, seed=seed, progress=lambda task, done, total, images: status.update(
            f"loading {dataset}: {task} {done}/{total if total else '?'}"), train_limit=n, eval_limit=n,
            cut_rows_over=LOAD_ROWS_OVER, **load_kwargs(dataset_opts))
    candidates = load_zoo(zoo_name)
    if allow_pickle:
        trust_pickle(candidates)
    options: dict[str, Any] = dict(scores=score_names, n=n, image_size=image_size, batch_size=batch_size, cache=not no_cache, seed=seed,
                                 seconds=seconds)
    if as_json or not sys.stderr.isatty():
        result = rank_candidates(data, candidates, **options)
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(task: str, done: int, total: int) -> None:  # done/total: batches of --batch-size images
                if task not in tasks:
                    tasks[task] = bar.add_task(task, total=total, rate="")
                elapsed = next(t for t in bar.tasks if t.id == tasks[task]).elapsed or 0.0
                rate = f"{min(done * batch_size, n) / elapsed:.0f} img/s" if elapsed > 0 and done else ""
                bar.update(tasks[task], completed=done, total=total, rate=rate)

            result = rank_candidates(data, candidates, progress=progress, **options)
    if plot_path:
        from hf_quicktune.report.ranking import plot_ranking

        plot_ranking(
            result.table,
            result.scores,
            plot_path,
            order=result.order(sort_key),
            sort_by=sort_key,
            title=f"{data.name}, n={result.n}",
        )
    if as_json:
        payload = result.to_dict()
        if top_k is not None:
            payload["kept"] = result.kept(top_k)
        click.echo(json.dumps(payload, indent=2))
        return
    _print_table(result, sort_key, zoo_name, top_k)
    if plot_path:
        _console().print(f"bar chart: {plot_path}")


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 160)


def _print_table(result, sort_key: str, zoo_name: str, top_k: int | None = None) -> None:
    from rich.table import Table

    reduced = result.info.get("sample_reduced_from")
    n = f"n={result.n} of {reduced} sampled: --time-limit" if reduced else f"n={result.n}"
    table = Table(title=f"{result.dataset}: zero-training ranking of zoo '{zoo_name}' ({n}, sorted by {sort_key})")
    table.add_column("#", justify="right")
    table.add_column("candidate", no_wrap=True)
    columns = list(result.scores) + ["ensemble"]
    for col in columns:
        table.add_column(col + (" ▼" if col == sort_key else ""), justify="right")
    table.add_column("params", justify="right")
    table.add_column("features s", justify="right")
    kept = set(result.kept(top_k)) if top_k is not None else None
    if kept is not None:
        table.add_column(f"--top-k {top_k}")
    cached = result.info.get("cached", {})
    for i, name in enumerate(result.order(sort_key), start=1):
        row = result.table[name]
        seconds = f"{row.get('feature_seconds', math.nan):.1f}" + (" (cached)" if cached.get(name) else "")
        if name in result.info.get("unscored", {}):
            seconds = f"~{seconds} (not run)"
        extra = [] if kept is None else ["kept" if name in kept else "dropped"]
        table.add_row(
            str(i), name, *[_fmt(row.get(c)) for c in columns], _fmt_params(row.get("num_params")), seconds, *extra
        )
    console = _console()
    console.print(table)
    console.print(
        "All scores: higher is better. ensemble = mean normalised rank over the chosen scores (1 = best "
        "everywhere); — = not applicable (LEEP/NCE need a pretrained source head)."
        + (" Sorted by ensemble, a random-init baseline (scratch:*) comes after its pretrained twin; "
           "`run --top-k` keeps baselines beyond the top-k." if sort_key == "ensemble" and result.baselines else "")
    )
    for name, err in result.info.get("errors", {}).items():
        console.print(f"[yellow]skipped {name}:[/] {err}")
    for name, predicted in result.info.get("unscored", {}).items():
        console.print(f"[yellow]not scored {name}:[/] its forward passes (~{predicted:.0f}s predicted) would overrun "
                      "--time-limit; ranked last")

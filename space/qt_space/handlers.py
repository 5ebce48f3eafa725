"""The functions behind the page's buttons (also the named API endpoints: /rank, /search, /predict, /predict_many,
/browse).

Errors a visitor can fix (:class:`~hf_quicktune.errors.QuickTuneError`) become ``gr.Error`` with the
error's own message; a search runs in its job's worker thread and this module only watches it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from functools import wraps
from pathlib import Path

import gradio as gr

from hf_quicktune.errors import ConfigError, QuickTuneError
from qt_space import browse, inputs, jobs, models, publish, views


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "api"


def _unpack_dir() -> Path:
    return jobs.workdir() / "uploads" / uuid.uuid4().hex[:12]


# ------------------------------------------------------------------------------------------ 1 search


def rank(dataset: str, upload: str | None, zoo: str, image_size: float | None):
    """Zero-cost ranking of the zoo on the dataset (no training): table, bar-chart data, a sentence."""
    from hf_quicktune.data import load
    from hf_quicktune.rank import LOAD_ROWS_OVER
    from hf_quicktune.rank import rank as rank_zoo
    from hf_quicktune.zoo import load_zoo

    spec = inputs.dataset_spec(dataset, upload, _unpack_dir())
    n = inputs.DEFAULTS["rank_samples"]
    ds = load(spec, train_limit=n, eval_limit=n, cut_rows_over=LOAD_ROWS_OVER)  # as `hf-quicktune rank` reads it
    candidates = load_zoo((zoo or inputs.DEFAULTS["zoo"]).strip())
    size = int(image_size) if image_size else inputs.DEFAULTS["image_size"]
    result = rank_zoo(ds, candidates, n=n, image_size=size).to_dict()
    text = (f"Ranked {len(candidates)} candidates of zoo `{zoo}` on {min(n, len(ds.train))} training images of "
            f"`{spec if not upload else Path(upload).name}` ({ds.num_classes} classes) without training. "
            "The search trains the best ranked first.")
    return views.ranking_table(result), views.plot_value(views.ranking_bars(result)), text


def _live(job: jobs.Job) -> tuple:
    ranking = views.read_json(job.dir / "ranking.json")
    pool = views.read_json(job.dir / "pool.json")
    with job.reporter.lock:
        steps = [job.reporter.steps[k] for k in sorted(job.reporter.steps)]
    rows, records = views.trials_on_disk(job.dir, pool)
    if rows:  # epoch by epoch, from the trials' curves
        board = views.final_leaderboard(rows)
        curves = views.curves_from_records(records, {r["trial_id"]: r["model"] for r in rows})
    else:  # from the step events alone
        board, curves = views.live_leaderboard(steps, pool, job.values.get("metric") or "top1"), views.curves_frame(steps)
    plot = views.plot_value
    return (views.status_text(job), views.ranking_table(ranking), plot(views.ranking_bars(ranking)), board,
            plot(curves), plot(views.incumbent_frame(steps)))


def watch(job: jobs.Job, poll_s: float = 1.0) -> Iterator[tuple]:
    """Yield the live views after every event the run reports, until its worker thread ends."""
    seen = -1
    while True:
        alive = job.running
        version = job.reporter.wait(seen, poll_s)
        if version != seen or not alive:
            seen = version
            yield _live(job)
        if not alive:
            return


def search(dataset: str, upload: str | None, zoo: str, budget: str, image_size: float | None,
           train_limit: float | None, max_epochs: float | None, seed: float | None,
           max_epochs_total: float | None = None, metric: str | None = None,
           request: gr.Request = None) -> Iterator[tuple]:
    """Start a search and stream its progress: status, ranking (table, bars), leaderboard, curves, incumbent."""
    session = _session(request)
    current = jobs.get_job(session)
    if current is not None and current.running:
        raise ConfigError(f"your search {current.name} is still running: stop it first (one search at a time).")
    values = inputs.settings_values("", zoo, budget, {"image_size": image_size, "train_limit": train_limit,
                                                      "max_epochs": max_epochs, "seed": seed,
                                                      "max_epochs_total": max_epochs_total, "metric": metric})
    job = jobs.Job(values)
    job.values["dataset"] = inputs.dataset_spec(dataset, upload, job.dir.parent / "uploads" / job.name)
    jobs.set_job(session, job)
    job.start()
    yield from watch(job)


def controls(request: gr.Request = None) -> tuple:
    """Resume and Finish now are shown only while the visitor's run is stopped (and resumable)."""
    job = jobs.get_job(_session(request))
    stopped = job is not None and job.state == "stopped" and not job.running
    return gr.update(visible=stopped), gr.update(visible=stopped)


def stop(request: gr.Request = None) -> str:
    job = jobs.get_job(_session(request))
    if job is None or not job.running:
        return "No search is running."
    job.request_stop()
    return "Stopping after the epoch in progress… the run stays saved and resumable."


def resume(finish_now: bool, request: gr.Request = None) -> Iterator[tuple]:
    job = jobs.get_job(_session(request))
    if job is None or job.state != "stopped":
        raise ConfigError("there is no stopped search to resume in this session.")
    job.start(resume=True, finish_now=finish_now)
    yield from watch(job)


def leave(request: gr.Request = None) -> None:
    """The visitor closed the page: their search stops (and stays resumable on disk)."""
    jobs.forget(_session(request))


# ------------------------------------------------------------------------------------------ 2 results


def restore(last_run: str, request: gr.Request = None) -> tuple:
    """On page load: the visitor's last run (its name kept in the browser) comes back with its results."""
    session = _session(request)
    job = jobs.get_job(session) or jobs.find_run(last_run)
    if job is None:
        return (gr.update(),) + results(request)
    jobs.set_job(session, job)
    return (views.status_text(job),) + results(request)


def results(request: gr.Request = None) -> tuple:
    """Everything of the Results tab and the Try-it defaults, from the finished run's files (+ the run's
    name, kept in the visitor's browser)."""
    job = jobs.get_job(_session(request))
    empty = ("Run a search first: its results appear here.", None, "", None, None, None, views.final_leaderboard([]),
             None, "", gr.update(), [], [], job.name if job else gr.update())
    if job is None or job.state not in ("finished", "failed") or not job.summary:
        return empty
    s = job.summary
    if not s.get("best_model"):
        return (f"The search ended without a model ({job.error or s.get('stop_reason')}). Give it a larger budget.",
                *empty[1:])
    export = Path(s["export_dir"])
    config = views.read_json(export / "config.json", {})
    num_classes = len(config.get("label_names") or []) or config.get("num_classes")
    acc_frame, acc_text = views.accuracy_frame(s, num_classes)
    rows = views.read_json(Path(s.get("leaderboard_json") or job.dir / "leaderboard.json"), [])
    archive = shutil.make_archive(str(job.dir / f"{job.name}-model"), "zip", export)
    card = views.card_markdown((export / "README.md").read_text()) if (export / "README.md").exists() else ""
    plots = s.get("plots") or {}
    try:
        examples = models.example_images(job.values["dataset"], job.dir / "examples", seed=job.values.get("seed", 0))
    except QuickTuneError:
        examples = []
    summary = views.summary_markdown(s) + f"\n\nResults are also served from model `run:{job.name}` in **Try it**."
    return (summary, views.plot_value(acc_frame), acc_text, plots.get("learning_curves"), plots.get("incumbent_over_time"),
            plots.get("confusion_matrix"), views.final_leaderboard(rows), archive, card, f"run:{job.name}", [(shown, label) for _, shown, label in examples],
            examples, job.name)


def push(repo_id: str, private: bool, oauth_token: gr.OAuthToken | None, request: gr.Request = None) -> str:
    job = jobs.get_job(_session(request))
    if job is None or not job.summary or not job.summary.get("export_dir"):
        raise ConfigError("there is no finished search in this session to push: run one first.")
    url = publish.push_export(Path(job.summary["export_dir"]), repo_id, oauth_token, private=bool(private))
    return f"Pushed to [{url}]({url}) with your account."


# ------------------------------------------------------------------------------------------ 3 try it, 4 browse


def predict(image, model_ref: str) -> dict[str, float]:
    """Top-5 classes (by name) of an image for ``model_ref`` (``run:NAME`` or a model repo id)."""
    return models.classify(image, model_ref)


def predict_many(upload: str | None, model_ref: str, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:  # noqa: B008
    """predictions.csv for an uploaded zip / tar of images or a table of them, and what was classified (a progress
    bar over the images while it runs)."""
    if not upload:
        raise ConfigError("upload a zip / tar of images, or a table of them (CSV, .npz, HDF5), to classify.")
    return models.classify_many(upload, model_ref, jobs.workdir() / "predictions" / uuid.uuid4().hex[:12],
                                progress=lambda done, total: progress(done / max(total, 1), desc="classifying",
                                                                      total=total))


def pick_example(examples: list, model_ref: str, evt: gr.SelectData):
    """A click on an example: show it and classify it."""
    from PIL import Image

    original, shown, _label = examples[evt.index]
    return Image.open(shown), models.classify(Image.open(original).convert("RGB"), model_ref)


def browse_run(repo_id: str) -> tuple:
    """Card, leaderboard, learning curves, ranking and confusion matrix of a model repo published by hf-quicktune."""
    got = browse.fetch(repo_id, jobs.workdir() / "browse")
    settings = got.get("settings") or {}
    head = (f"**{repo_id}**: {len(got['leaderboard'])} trials on `{settings.get('dataset', '?')}` with zoo "
            f"`{settings.get('zoo', '?')}` under a budget of {settings.get('budget', '?')}.")
    return (head, views.card_markdown(got["card"]), views.final_leaderboard(got["leaderboard"]), got["curves_png"],
            views.ranking_table(got.get("ranking")), got.get("confusion_png"), repo_id.strip())


def _wrap_all() -> None:
    for name in ("rank", "search", "resume", "results", "push", "predict", "predict_many", "pick_example",
                 "browse_run"):
        globals()[name] = _errors(globals()[name])


def _errors(fn):
    """QuickTuneError -> gr.Error (for plain functions and generators alike)."""
    import inspect

    if inspect.isgeneratorfunction(fn):
        @wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except QuickTuneError as err:
                raise gr.Error(str(err), print_exception=False) from None
        return gen

    @wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QuickTuneError as err:
            raise gr.Error(str(err), print_exception=False) from None
    return plain


_wrap_all()

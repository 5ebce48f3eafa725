"""hf-quicktune as a Hugging Face Space: search, watch, inspect, try and publish.

Locally: ``pip install "hf-quicktune[space]"`` then ``python space/app.py`` (http://127.0.0.1:7860).
Environment: ``QUICKTUNE_MODEL`` (model served by **Try it** before any search: a Hub id or an export
folder), ``QUICKTUNE_SPACE_DIR`` (where runs are written; default a temp folder), ``PORT``.
Named API endpoints for ``gradio_client``: ``/rank``, ``/search``, ``/predict``, ``/browse``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # qt_space/ next to this file (as on a Space)

INTRO = """# hf-quicktune: which pretrained model should I fine-tune, and how?
Pick a dataset and a budget. hf-quicktune **ranks** a zoo of pretrained vision models without training, then
**searches** models, hyperparameters and epochs at once with Quick-Tune (meta-learned gray-box Bayesian
optimisation, Arango et al., ICLR 2024), fine-tuning the promising ones a few epochs at a time, and hands you the
winner with its model card. Watch it here, try the result on your images, and push it to your Hub account.
"""


def predict(image, top_k: int = 5, model_ref: str | None = None) -> dict[str, float]:
    """Top-k class probabilities of a PIL image (``model_ref`` default: ``$QUICKTUNE_MODEL``)."""
    from qt_space import models

    return models.classify(image, model_ref or os.environ.get("QUICKTUNE_MODEL", ""), top_k=top_k)


def login_available() -> bool:
    """gradio's LoginButton works on a Space; locally it mocks the developer's own login, which needs one."""
    if os.environ.get("SPACE_ID"):
        return True
    try:
        from huggingface_hub import get_token, whoami

        return bool(get_token()) and bool(whoami().get("name"))
    except Exception:  # noqa: BLE001 - no login, no network: the page works without the button
        return False


def build_app():
    try:
        import gradio as gr
    except ImportError as err:  # pragma: no cover - optional extra
        raise SystemExit('The Space app needs gradio: pip install "hf-quicktune[space]"') from err
    from qt_space import handlers as h
    from qt_space import inputs, views

    from hf_quicktune.train.metrics import METRICS, metric_label

    d = inputs.DEFAULTS
    with gr.Blocks(title="hf-quicktune") as demo:
        with gr.Row():
            gr.Markdown(INTRO, elem_id="intro")
            with gr.Column(scale=0, min_width=220):
                if login_available():
                    gr.LoginButton()
                    gr.Markdown("Log in to push a result to *your* account.")
                else:
                    gr.Markdown("Pushing to the Hub needs a login: available on the Space, or locally after "
                                "`hf auth login`.")
        with gr.Tabs() as tabs:
            with gr.Tab("1 · Search", id="search"):
                with gr.Row():
                    dataset = gr.Dropdown(list(inputs.BUILTINS), value=d["dataset"], allow_custom_value=True,
                                          label="Dataset", info="a built-in, or a Hub dataset id such as org/name")
                    upload = gr.File(label="…or upload a zip of an ImageFolder, a CSV (image paths or pixels), "
                                           "an .npz / HDF5 file or a WebDataset shard",
                                     type="filepath", file_types=inputs.UPLOAD_TYPES)
                    zoo = gr.Dropdown(list(inputs.ZOOS), value=d["zoo"], allow_custom_value=True, label="Zoo",
                                      info="offline: no download; tiny / default: timm models from the Hub")
                    budget = gr.Textbox(d["budget"], label="Budget", info="wall-clock: 90s, 2m, 1h; at least 30s")
                with gr.Accordion("Advanced (sized for the free CPU hardware)", open=False):
                    with gr.Row():
                        image_size = gr.Number(d["image_size"], label="image size (px)", precision=0)
                        train_limit = gr.Number(d["train_limit"], label="training images per epoch (empty or 0: all)",
                                                precision=0)
                        max_epochs = gr.Number(d["max_epochs"], label="max epochs per trial", precision=0)
                        seed = gr.Number(d["seed"], label="seed", precision=0)
                        epochs_total = gr.Number(None, label="stop after this many epochs in total (0: no limit)")
                        metric = gr.Dropdown([(metric_label(m), m) for m in METRICS], value=d.get("metric", "top1"),
                                             label="metric the search maximises", elem_id="metric",
                                             info="balanced accuracy or macro F1 for imbalanced classes")
                with gr.Row():
                    rank_btn = gr.Button("Rank only (no training)")
                    search_btn = gr.Button("Start search", variant="primary", elem_id="start-search")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-search")
                    resume_btn = gr.Button("Resume", visible=False, elem_id="resume-search")  # shown once stopped
                    finish_btn = gr.Button("Finish now", visible=False, elem_id="finish-search")
                status = gr.Markdown("Choose a dataset, a zoo and a budget, then **Start search**.", elem_id="status")
                with gr.Row():
                    ranking = gr.Dataframe(views.ranking_table(None), label="Zero-cost ranking (no training)",
                                           elem_id="ranking", wrap=True)
                    ranking_bars = gr.BarPlot(x="candidate", y="ensemble score", label="Ranking: higher is better",
                                              sort="-y", x_label_angle=-30, y_lim=[0, 1])
                leaderboard = gr.Dataframe(views.final_leaderboard([]), label="Leaderboard (updates after every epoch)",
                                           elem_id="leaderboard")
                with gr.Row():
                    # points, not lines: gradio's LinePlot draws nothing for a trial with one epoch (a line needs two
                    # points), and most trials of a small search stop after their first epochs
                    curves = gr.ScatterPlot(x="epoch", y=views.CURVE_COLUMN, color="trial", y_lim=[0, 100],
                                            label="Learning curves (the metric searched; a point per epoch, a colour "
                                                  "per trial)",
                                            elem_id="live-curves")
                    # points too: the incumbent after the first epoch-step is one point, which a LinePlot hides
                    incumbent = gr.ScatterPlot(x="seconds used", y=views.INCUMBENT_COLUMN, y_lim=[0, 100],
                                               label="Incumbent over time (best so far after each epoch-step)",
                                               elem_id="live-incumbent")

            with gr.Tab("2 · Results", id="results"):
                res_summary = gr.Markdown("Run a search first: its results appear here.", elem_id="results-summary")
                with gr.Row():
                    acc_text = gr.Markdown(elem_id="accuracy")
                    acc_bars = gr.BarPlot(x="what", y=views.SCORE_COLUMN, label="The winner (in the run's metric) against "
                                          "chance and the baseline",
                                          y_lim=[0, 100])
                with gr.Row():
                    res_curves = gr.Image(label="Learning curves", type="filepath", elem_id="results-curves")
                    res_incumbent = gr.Image(label="Incumbent over time", type="filepath")
                res_confusion = gr.Image(label="Confusion matrix of the winner (validation; per class in the card)",
                                         type="filepath", elem_id="results-confusion")
                res_board = gr.Dataframe(views.final_leaderboard([]), label="Leaderboard", elem_id="results-leaderboard")
                download = gr.File(label="Download the model (timm format: model.safetensors, config.json, card)")
                with gr.Accordion("Model card", open=True):
                    card = gr.Markdown(elem_id="card")
                with gr.Row():
                    repo = gr.Textbox(label="Push to the Hub as", placeholder="your-name/my-model")
                    private = gr.Checkbox(label="private")
                    push_btn = gr.Button("Push to the Hub")
                push_status = gr.Markdown()

            with gr.Tab("3 · Try it", id="try"):
                model_ref = gr.Textbox(os.environ.get("QUICKTUNE_MODEL", ""), label="Model", elem_id="model-ref",
                                       info="run:NAME (a search of this page) or a model repo id made by hf-quicktune")
                with gr.Row():
                    # image_mode None: the file's own mode, so ToRGB lays a transparent one on white as in training
                    image = gr.Image(type="pil", image_mode=None, label="Image", elem_id="try-image")
                    label = gr.Label(num_top_classes=5, label="Top-5 classes", elem_id="prediction")
                classify_btn = gr.Button("Classify", variant="primary")
                with gr.Accordion("Classify many: a zip / tar of images or a table of them -> predictions.csv",
                                  open=False):
                    with gr.Row():
                        many = gr.File(label="Images to classify (a zip / tar of them, a CSV of pixels, .npz, HDF5)",
                                       type="filepath", file_types=inputs.UPLOAD_TYPES, elem_id="many-upload")
                        many_csv = gr.File(label="predictions.csv", elem_id="many-csv")
                    many_btn = gr.Button("Classify all")
                    many_text = gr.Markdown(elem_id="many-text")
                examples = gr.State([])
                gallery = gr.Gallery(label="Examples from the validation split (click one)", columns=8, height=180,
                                     allow_preview=False, elem_id="examples")

            with gr.Tab("4 · Browse a published run", id="browse"):
                with gr.Row():
                    browse_repo = gr.Textbox(label="Model repo made by hf-quicktune", placeholder="org/name")
                    browse_btn = gr.Button("Browse", variant="primary")
                browse_head = gr.Markdown(elem_id="browse-head")
                browse_curves = gr.Image(label="Learning curves (from quicktune/curves.json)", type="filepath",
                                         elem_id="browse-curves")
                browse_board = gr.Dataframe(views.final_leaderboard([]), label="Leaderboard (quicktune/leaderboard.json)",
                                            elem_id="browse-board")
                browse_ranking = gr.Dataframe(views.ranking_table(None), label="Zero-cost ranking (quicktune/ranking.json)")
                browse_confusion = gr.Image(label="Validation confusion matrix (plots/confusion_matrix.png)",
                                            type="filepath", elem_id="browse-confusion")
                with gr.Accordion("Model card", open=False):
                    browse_card = gr.Markdown()
                try_btn = gr.Button("Try this model")
                browsed = gr.State("")

        live = [status, ranking, ranking_bars, leaderboard, curves, incumbent]
        last_run = gr.BrowserState("", storage_key="hf-quicktune-last-run")  # survives reloads (login)
        result_outputs = [res_summary, acc_bars, acc_text, res_curves, res_incumbent, res_confusion, res_board,
                          download, card,
                          model_ref, gallery, examples, last_run]
        settings = [dataset, upload, zoo, budget, image_size, train_limit, max_epochs, seed, epochs_total, metric]
        rank_btn.click(h.rank, [dataset, upload, zoo, image_size], [ranking, ranking_bars, status], api_name="rank",
                       concurrency_limit=1, concurrency_id="cpu")
        run_opts = dict(concurrency_limit=1, concurrency_id="cpu")  # one search at a time on CPU hardware: a queue
        controls = [resume_btn, finish_btn]
        search_btn.click(h.search, settings, live, api_name="search", **run_opts).then(
            h.results, None, result_outputs, api_visibility="private").then(
            h.controls, None, controls, api_visibility="private")
        stop_btn.click(h.stop, None, status, api_visibility="private", concurrency_limit=None)
        for btn, finish in ((resume_btn, False), (finish_btn, True)):
            btn.click(h.resume, gr.State(finish), live, api_visibility="private", **run_opts).then(
                h.results, None, result_outputs, api_visibility="private").then(
                h.controls, None, controls, api_visibility="private")
        push_btn.click(h.push, [repo, private], push_status, api_visibility="private")
        classify_btn.click(h.predict, [image, model_ref], label, api_name="predict")
        many_btn.click(h.predict_many, [many, model_ref], [many_csv, many_text], api_name="predict_many",
                       concurrency_limit=1, concurrency_id="cpu")
        gallery.select(h.pick_example, [examples, model_ref], [image, label], api_visibility="private")
        browse_btn.click(h.browse_run, browse_repo, [browse_head, browse_card, browse_board, browse_curves,
                                                     browse_ranking, browse_confusion, browsed], api_name="browse")
        try_btn.click(lambda r: (r, gr.Tabs(selected="try")), browsed, [model_ref, tabs], api_visibility="private")
        demo.load(h.restore, last_run, [status, *result_outputs], api_visibility="private").then(
            h.controls, None, controls, api_visibility="private")
        demo.unload(h.leave)
    demo.queue(default_concurrency_limit=4, max_size=32)
    return demo


if __name__ == "__main__":  # pragma: no cover
    build_app().launch(server_name=os.environ.get("HOST", "0.0.0.0"), server_port=int(os.environ.get("PORT", "7860")))

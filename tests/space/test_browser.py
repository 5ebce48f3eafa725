"""A visitor's path through the Space in a real browser (Playwright driving Debian's Chromium): a tiny search on
builtin:digits watched live, stopped and finished, its results, an example classified, a push with the (local) login, and browsing the
pushed run from the local Hub. Screenshots go to the test's temp dir (``<tmp>/screenshots``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import TINY

pytestmark = [pytest.mark.slow, pytest.mark.hub]

CHROMIUM = os.environ.get("HFQT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEARCH_TIMEOUT_MS = 240_000  # 3 epochs take ~30 s on 2 idle cores; a loaded CI machine gets room


@pytest.fixture
def page(space_app, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a loaded CI machine renders slowly; waits end as soon as it is there
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (apt-get)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(space_app[0])
        page.locator("#start-search").wait_for(timeout=120_000)  # the page has loaded its components
        yield page
        browser.close()


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "screenshots" / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, path  # a rendered page, not a blank one
    return path


def _rows(page, elem_id: str) -> list[list[str]]:
    """The body rows of a gradio Dataframe as a visitor reads them (its rendered grid rows, not the hidden
    sizing table)."""
    rows = page.locator(f"#{elem_id} [role=row].virtual-row")
    return [[c.strip() for c in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
            for i in range(rows.count())]


def _image_size(page, selector: str) -> tuple[float, float]:
    img = page.locator(selector).first
    img.wait_for()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    box = img.bounding_box()
    assert natural[0] > 0 and natural[1] > 0, f"{selector} did not load"
    return box["width"], box["height"]


def test_a_visitor_searches_watches_inspects_tries_publishes_and_browses(page, tmp_path, hub):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    # 1. the page says what it does; the visitor sets up a tiny search and starts it
    expect(page.locator("#intro")).to_contain_text("which pretrained model should I fine-tune")
    page.get_by_label("Budget").fill("10s")  # too small: the visitor is told why and what to give
    page.locator("#start-search").click()
    expect(page.get_by_text("a budget of 10s is too small")).to_be_visible()
    page.get_by_label("Budget").fill(TINY["budget"])
    page.get_by_text("Advanced (sized for the free CPU hardware)").click()
    page.get_by_label("training images per epoch").fill(str(TINY["train_limit"]))
    page.locator("#metric input").click()  # the search maximises macro F1: the live views say so
    page.get_by_role("option", name="macro F1").click()
    _shot(page, tmp_path, "01-start")
    page.locator("#start-search").click()

    # live: the ranking appears, then the leaderboard fills in as epochs finish
    expect(page.locator("#ranking")).to_contain_text("tf_efficientnet_lite0", timeout=SEARCH_TIMEOUT_MS)
    expect(page.locator("#leaderboard [role=row].virtual-row").first).to_be_visible(timeout=SEARCH_TIMEOUT_MS)
    live = page.locator("#status").inner_text()
    expect(page.locator("#leaderboard")).to_contain_text("val macro F1 %")
    _shot(page, tmp_path, "02-search-live")
    assert "Searching" in live, live  # the first epochs are on the leaderboard while the search goes on
    expect(page.locator("#resume-search")).to_be_hidden()

    # Stop leaves a resumable run; Finish now exports what it has
    page.locator("#stop-search").click()
    expect(page.locator("#status")).to_contain_text("Stopped (resumable)", timeout=SEARCH_TIMEOUT_MS)
    expect(page.locator("#resume-search")).to_be_visible()
    expect(page.locator("#finish-search")).to_be_visible()
    _shot(page, tmp_path, "03-stopped")
    page.locator("#finish-search").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=SEARCH_TIMEOUT_MS)
    expect(page.locator("#finish-search")).to_be_hidden()
    _shot(page, tmp_path, "04-search-finished")
    ranking = _rows(page, "ranking")
    assert len(ranking) == 6 and [r[0] for r in ranking] == [str(i) for i in range(1, 7)]
    board = _rows(page, "leaderboard")
    assert board and all(re.fullmatch(r"\d+\.\d\d %", r[4]) for r in board), board
    assert sum(int(r[3]) for r in board) >= 1
    # the live learning curves draw every epoch of every trial, a trial of one epoch included (a LinePlot drew
    # nothing for those: a line needs two points), and the incumbent plot a point per epoch-step (a LinePlot
    # stayed blank until the second)
    epochs = sum(int(r[3]) for r in board)
    for plot in ("live-curves", "live-incumbent"):
        count_drawn = (f"() => Array.from(document.querySelectorAll('#{plot} path[aria-roledescription=point]'))"
                       ".filter(e => { const b = e.getBBox(); return b.width > 0 && b.height > 0"
                       " && Number(getComputedStyle(e).opacity) > 0 && e.getAttribute('opacity') !== '0'; }).length")
        try:  # vega renders after the update arrives: give it a moment
            page.wait_for_function(f"() => ({count_drawn})() === {epochs}", timeout=10_000)
        except PlaywrightTimeout:
            pass  # the assertion below says what was drawn
        drawn = page.evaluate(count_drawn)
        assert drawn == epochs, (plot, drawn, board)
    status = page.locator("#status").inner_text()
    run_name = re.search(r"run (run-[\w-]+)", status).group(1)

    # 2. results: the winner, its accuracy against chance, plots, leaderboard, card
    page.get_by_role("tab", name="2 · Results").click()
    expect(page.locator("#results-summary")).to_contain_text("Winner:", timeout=60_000)
    expect(page.locator("#accuracy")).to_contain_text("chance is 10.00 %")
    expect(page.locator("#accuracy")).to_contain_text("always answering the most frequent class")
    w, h = _image_size(page, "#results-curves img")
    assert w > 100 and h > 50
    w, h = _image_size(page, "#results-confusion img")  # the winner's validation confusion matrix
    assert w > 100 and h > 100
    expect(page.locator("#card")).to_contain_text("Per-class results (validation)")
    results_board = _rows(page, "results-leaderboard")
    assert len(results_board) == len(board)
    expect(page.locator("#card")).to_contain_text("fine-tuned on builtin:digits")
    _shot(page, tmp_path, "05-results")

    # 3. try it: a click on an example classifies it with the run's model (top-5 with class names)
    page.get_by_role("tab", name="3 · Try it").click()
    examples = page.locator("#examples .thumbnail-item")
    expect(examples).to_have_count(8)
    true_label = examples.first.locator(".caption-label").inner_text()
    examples.first.click()
    expect(page.locator("#prediction")).to_contain_text("%", timeout=60_000)
    text = page.locator("#prediction").inner_text()
    assert len(re.findall(r"\d+%", text)) == 5, text
    assert set(re.findall(r"^(\d)$", text, flags=re.M)) <= {str(i) for i in range(10)}
    assert page.locator("#model-ref textarea").input_value() == f"run:{run_name}"
    w, h = _image_size(page, "#try-image img")
    assert w >= 100 and h >= 100  # the 8x8 digit is shown enlarged, not as a speck
    _shot(page, tmp_path, "06-try-it")
    assert true_label in {str(i) for i in range(10)}

    # push with the visitor's login (locally gradio's login stands for the developer's: the local Hub's user)
    page.get_by_role("tab", name="2 · Results").click()
    page.get_by_role("button", name=re.compile("Sign in with Hugging Face")).click()
    expect(page.get_by_role("button", name=re.compile("Logout"))).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="2 · Results").click()
    repo = hub.unique_repo_id("from-the-space")
    page.get_by_label("Push to the Hub as").fill(repo)
    page.get_by_role("button", name="Push to the Hub").click()
    expect(page.get_by_text("Pushed to")).to_be_visible(timeout=60_000)
    _shot(page, tmp_path, "07-pushed")
    files = {f.rfilename for f in hub.api.model_info(repo).siblings}
    assert {"model.safetensors", "config.json", "README.md", "quicktune/leaderboard.json"} <= files
    assert f"hf-hub:{repo}" in Path(hub.api.hf_hub_download(repo, "README.md")).read_text()

    # 4. browse the run the Space just pushed, read back from the Hub
    page.get_by_role("tab", name="4 · Browse a published run").click()
    page.get_by_label("Model repo made by hf-quicktune").fill(repo)
    page.get_by_role("button", name="Browse", exact=True).click()
    expect(page.locator("#browse-head")).to_contain_text(f"{repo}: {len(board)} trials on builtin:digits",
                                                         timeout=60_000)
    assert len(_rows(page, "browse-board")) == len(board)
    w, h = _image_size(page, "#browse-curves img")
    assert w > 100 and h > 50
    _shot(page, tmp_path, "08-browse")

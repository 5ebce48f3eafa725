"""The ``hf-quicktune`` command line.

Subcommands are registered as ``name -> "module:attribute"`` strings and imported only
when they run, so ``hf-quicktune --help`` never imports torch, timm, transformers or
datasets. Each command module under :mod:`hf_quicktune.commands` defines a click command
whose body imports its stage lazily.

Errors: a :class:`~hf_quicktune.errors.QuickTuneError` becomes one paragraph on stderr and
exit code 2 (with ``--json``, also ``{"error": {...}}`` with its fields on stdout); a crash inside
``run`` is one paragraph naming the run's log, which holds the traceback (exit code 1); anything
else is a bug (exit code 1 with the traceback).

Every option can also come from the environment (click's ``auto_envvar_prefix``):
``HF_QUICKTUNE_<COMMAND>_<OPTION>``, e.g. ``HF_QUICKTUNE_RUN_BUDGET=2h``; options typed on the command line win.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys

import click

from hf_quicktune import __version__
from hf_quicktune.errors import QuickTuneError, RunCrashedError

#: prefix of the environment variables that set options: HF_QUICKTUNE_<COMMAND>_<OPTION>
ENVVAR_PREFIX = "HF_QUICKTUNE"

#: name -> ("module:attribute", one-line help). Keep alphabetical within stages.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("hf_quicktune.commands.run:demo", "Run the whole pipeline offline on built-in data (~3 min on CPU)."),
    "run": ("hf_quicktune.commands.run:run", "Search models and hyperparameters under a budget, fine-tune, publish."),
    "data": ("hf_quicktune.commands.data:data", "Inspect datasets: columns, splits, classes, meta-features."),
    "zoo": ("hf_quicktune.commands.zoo:zoo", "List candidate model zoos with parameter counts and weight availability."),
    "rank": ("hf_quicktune.commands.rank:rank", "Rank candidates without training (LFC, LogME, kNN, LGC, ensemble)."),
    "estimate": ("hf_quicktune.commands.estimate:estimate", "Predict fine-tuning loss curve and time without training."),
    "finetune": ("hf_quicktune.commands.finetune:finetune", "Fine-tune one model with one configuration (one trial)."),
    "predict": ("hf_quicktune.commands.predict:predict", "Classify images with an exported model, into a CSV."),
    "meta": ("hf_quicktune.commands.meta:meta", "Meta-datasets and meta-learned priors: import, train, push."),
    "bench": ("hf_quicktune.commands.bench:bench", "Benchmark optimizers by replaying a learning-curve meta-dataset."),
    "cache": ("hf_quicktune.commands.cache:cache", "Show or clear what hf-quicktune keeps on disk (HF_QUICKTUNE_CACHE)."),
}


def _load(target: str) -> click.Command:
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def _show_envvars(command: click.Command) -> click.Command:
    """``--help`` names each option's environment variable (``env var: HF_QUICKTUNE_RUN_BUDGET``)."""
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help", "version"):
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _show_envvars(sub)
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return _show_envvars(_load(self.lazy[cmd_name][0]))
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        rows += [
            (name, cmd.get_short_help_str(80))
            for name, cmd in sorted(self.commands.items())
            if name not in self.lazy
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hf-quicktune")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """hf-quicktune: which pretrained vision model to fine-tune, and how.

    Quick start (offline, ~3 minutes on CPU):  hf-quicktune demo

    Every option can also be set by an environment variable HF_QUICKTUNE_<COMMAND>_<OPTION>
    (e.g. HF_QUICKTUNE_RUN_BUDGET=2h); each command's --help names them. Options on the command line win.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point with the error contract of the CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="hf-quicktune", standalone_mode=False, auto_envvar_prefix=ENVVAR_PREFIX)
    except (QuickTuneError, RunCrashedError) as err:
        click.echo(f"Error: {' '.join(str(err).split())}", err=True)  # one paragraph, even around quoted tool output
        if "--json" in args:  # CI: the structured facts on stdout, where the summary would have been
            click.echo(json.dumps({"error": err.to_dict()}, indent=2))
        return 1 if isinstance(err, RunCrashedError) else 2
    except click.exceptions.Abort as err:
        from hf_quicktune.run.session import Terminated

        click.echo("Aborted.", err=True)
        return 143 if isinstance(err.__cause__, Terminated) else 130  # 128 + the signal, as a shell reports it
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

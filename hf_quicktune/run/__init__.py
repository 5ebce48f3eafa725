"""``hf-quicktune run``: the orchestrator and its on-disk state (resume).

- :mod:`~hf_quicktune.run.settings`: options, recipes, budgets (light; no torch)
- :mod:`~hf_quicktune.run.state`: the files of a run directory
- :mod:`~hf_quicktune.run.session`: the run directory, its lock, log file, Ctrl-C, crash reports
- :mod:`~hf_quicktune.run.stages`, :mod:`~hf_quicktune.run.search_setup`: dataset, ranking, pool, optimizer
- :mod:`~hf_quicktune.run.budget`: the clock and the stop rules (a value parsed once, polled)
- :mod:`~hf_quicktune.run.trials`: train engines and their cache, jobs, resume bookkeeping
- :mod:`~hf_quicktune.run.loop`: the run's assembly; :mod:`~hf_quicktune.run.search_loop`: the ask/tell loop
- :mod:`~hf_quicktune.run.finalize`: leaderboard, plots, export, card, push
- :mod:`~hf_quicktune.run.progress`: live display (rich on a TTY, plain lines otherwise)
"""

from __future__ import annotations

from hf_quicktune.run.settings import RunSettings, parse_budget, resolve_settings

__all__ = ["RunSettings", "parse_budget", "resolve_settings", "run"]


def run(settings: RunSettings, **kwargs):
    """Run or resume a search (see :func:`hf_quicktune.run.loop.run`)."""
    from hf_quicktune.run.loop import run as _run

    return _run(settings, **kwargs)

"""Plots and tables shared by run, bench, rank and publish (matplotlib with the Agg backend).

One module per consumer to keep ownership clear: ``curves`` (learning curves, incumbent
over time), ``regret`` (benchmark regret plots), ``ranking`` (zero-cost score bar charts).
"""

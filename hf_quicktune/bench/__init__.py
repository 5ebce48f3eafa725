"""Benchmarking optimizers by replaying learning-curve meta-datasets: harness, Optuna peers, regret."""

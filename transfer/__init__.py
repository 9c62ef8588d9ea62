"""transfer: transfer-learning sweeps as one compiled, vmapped JAX program.

Layers (each imports only from those above it): tasks, models, groups, strategies, optim, train, sweep, stats,
compare, tables, plots, report, checkpoints, validate, experiment.
"""

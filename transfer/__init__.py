"""transfer: transfer-learning sweeps as one compiled, vmapped JAX program.

Layers, bottom to top; each imports only from those below it (tests/test_layout.py checks it):

  errors, types, keys, io   the shared vocabulary (Split, AdaptData, Lane and the grid axes), PRNG keys, file I/O
  data/      data sources: the synthetic task family, arrays (digits, npz), image transforms
  train/     pure, inside jit: models, strategies, parameter groups and the optimizer, losses, the scan loop,
             pre-training, stages, one target run
  report/    statistics over seeds, tables, figures (the one place matplotlib lives), claims, REPORT.md
  run/       host side: validation, source models, sweep, store, the experiment, entrypoint helpers
  studies/   built on experiments: the benchmark, the decision framework

docs/how-it-works.md walks the path from `scripts/run.py` to `results.json`. From Python: `transfer.run_experiment`
(what scripts/run.py does), `transfer.load_config` and `transfer.export_models`; README.md, "From Python".
"""

# The Python API (transfer/run/api.py), imported on first use so that `import transfer` imports no jax: a run can
# still give jax one CPU device per core.
__all__ = ['export_models', 'load_config', 'run_experiment']


def __getattr__(name: str):
  if name in __all__:
    from transfer.run import api
    return getattr(api, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(list(globals()) + __all__)

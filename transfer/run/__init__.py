"""Host side: config validation, the source models, the sweep (grid -> lanes -> jit(vmap) in chunks), the store,
the experiment, and what every entrypoint shares. `transfer.run.xla_env` must be importable before jax, so nothing
in this package's __init__ imports jax."""

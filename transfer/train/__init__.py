"""Pure code that runs inside jit: models, strategies as data, parameter groups and the optimizer, losses, the scan
loop, pre-training, stages and one whole target run. Nothing here imports the run, report or studies layers."""

"""Run by test_sharding.py in a subprocess on the CPU platform whose XLA_FLAGS fake several devices (set before jax
loads).

Prints one JSON object: the smoke experiment's runs, and for an odd-sized batch of lanes its records and how the
output was laid out over the devices.
"""

import functools
import json
import sys

import jax

from configs import domain_shift
from transfer import types
from transfer.run import experiment
from transfer.run import sources
from transfer.train import strategies
from transfer.run import sweep


def main(workdir: str) -> None:
  config = domain_shift.get_config('smoke')
  experiment.run(config, workdir)
  dataset = experiment.prepare(config)
  source = sources.pretrained(config, dataset, f'{workdir}/pretrained')
  strategy = strategies.get('fine_tuning')
  cells = sweep.grid(strategy, seeds=2, data_sizes=config.data_sizes, shifts=config.shifts,
                     lr_mults=config.lr_mults)[:6]  # 6 lanes: not a multiple of the device count
  compiled = jax.jit(functools.partial(sweep.train_lanes,
                                       train_fn=experiment.strategy_train_fn(config, dataset, strategy)))
  mesh = sweep.lane_mesh()
  width = sweep.chunk_width(len(cells), 0, mesh.size)
  out = compiled(*sweep.shard(sweep.pad_to(types.stack_lanes(cells), width), source, dataset.arrays, mesh))
  accuracy = out['test_accuracy']
  with open(f'{workdir}/results.json') as f:
    runs = json.load(f)['runs']
  print(json.dumps({
      'backend': jax.default_backend(),
      'devices': jax.device_count(),
      'width': width,
      'output_devices': len(accuracy.sharding.device_set),
      'rows_per_device': sorted(s.data.shape[0] for s in accuracy.addressable_shards),
      'odd_records': sweep.run_strategy('fine_tuning', cells, source, compiled=compiled, max_lanes_per_call=0),
      'runs': runs,
  }))


if __name__ == '__main__':
  main(sys.argv[1])

"""Run by test_sharding.py in a subprocess on the CPU platform whose XLA_FLAGS fake several devices (set before jax
loads).

Prints one JSON object: the smoke experiment's runs, and for an odd-sized batch of lanes their keys and outputs and
how the output was laid out over the devices.
"""

import functools
import json
import sys

import jax

from configs import domain_shift
from transfer import compiler
from transfer import types
from transfer.run import experiment
from transfer.run import records
from transfer.run import search
from transfer.run import sources
from transfer.run import store
from transfer.train import strategies
from transfer.run import sweep


def main(workdir: str) -> None:
  config = domain_shift.get_config('smoke')
  experiment.run(config, workdir)
  dataset = experiment.prepare(config)
  source = sources.pretrained(config, dataset, f'{workdir}/pretrained')
  strategy = strategies.get('fine_tuning')
  cells = sweep.config_grid(strategy, config, lr_mult_axis=False)
  keys = [store.run_key({'strategy': 'fine_tuning', **c}) + (j,) for c in cells
          for j in range(len(search.candidates(config, strategy)))][:6]  # 6 lanes: not a multiple of the devices
  lanes = [search.lane_values(c, cand) for c in cells for cand in search.candidates(config, strategy)][:6]
  compiled = compiler.jit(functools.partial(sweep.train_lanes,
                                            train_fn=experiment.strategy_train_fn(config, dataset, strategy)))
  mesh = sweep.lane_mesh()
  width = sweep.chunk_width(len(lanes), 0, mesh.size)
  out = compiled(*sweep.shard(sweep.pad_to(types.stack_lanes(lanes), width), source, dataset.arrays, mesh))
  accuracy = out['test_accuracy']
  odd = {}
  sweep.run_lanes('fine_tuning', lanes, source, compiled=compiled, max_lanes_per_call=0,
                  on_chunk=lambda lo, hi, o: odd.update({c: o[c][:hi - lo].tolist() for c in records.CURVES}))
  with open(f'{workdir}/results.json') as f:
    runs = json.load(f)['runs']
  print(json.dumps({
      'backend': jax.default_backend(),
      'devices': jax.device_count(),
      'width': width,
      'output_devices': len(accuracy.sharding.device_set),
      'rows_per_device': sorted(s.data.shape[0] for s in accuracy.addressable_shards),
      'odd_keys': keys, 'odd_curves': odd,
      'runs': runs,
  }))


if __name__ == '__main__':
  main(sys.argv[1])

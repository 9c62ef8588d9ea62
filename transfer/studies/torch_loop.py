"""The same target training written the ordinary PyTorch way: one Python loop per run, Adam with param groups.

The benchmark's baseline. It trains the same MLP from the same pre-trained weights on the same target pool (made by
`SyntheticData.target_splits`), with the same optimizer, LR multipliers, steps and batch size; only the head's random
initialisation and the minibatch draws come from torch's generator instead of JAX's. torch is optional
(`pip install -e '.[bench]'`). Where torch sees a CUDA device the benchmark also runs the same loop there
(`device='cuda'`: the model, the pool and the minibatch draws on the GPU, the clock stopped only once the GPU is done).
"""

from __future__ import annotations

import time

import numpy as np


def available() -> bool:
  try:
    import torch  # noqa: F401
  except ImportError:
    return False
  return True


def cuda_device() -> str | None:
  """The name of the CUDA device torch would train on, or None (no torch, or no CUDA device it can use)."""
  if not available():
    return None
  import torch
  return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def build_model(source_params: dict, *, depth: int, num_classes: int, pretrained: bool, seed: int):
  """nn.Sequential(Linear, ReLU) x depth + Linear head; backbone copied from the flax params if `pretrained`."""
  import torch
  torch.manual_seed(seed)
  layers = []
  for i in range(depth):
    kernel = np.asarray(source_params[f'layer_{i}']['kernel'])
    linear = torch.nn.Linear(*kernel.shape)
    if pretrained:
      with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
        linear.bias.copy_(torch.from_numpy(np.array(source_params[f'layer_{i}']['bias'])))
    layers += [linear, torch.nn.ReLU()]
  head = torch.nn.Linear(kernel.shape[1], num_classes)
  return torch.nn.Sequential(*layers), head


def train_one(pool_x, pool_y, test_x, test_y, source_params, *, strategy, data_size: int, lr: float,
              lr_mult: float, steps: int, batch_size: int, depth: int, num_classes: int, seed: int,
              adam_b1: float = 0.9, adam_b2: float = 0.999, adam_eps: float = 1e-8,
              device: str = 'cpu') -> tuple[float, float]:
  """One run on `device` ('cpu' or 'cuda'); returns (test accuracy, seconds spent in the training loop)."""
  import torch
  backbone, head = build_model(source_params, depth=depth, num_classes=num_classes,
                               pretrained=strategy.pretrained, seed=seed)
  backbone, head = backbone.to(device), head.to(device)
  groups = [{'params': head.parameters(), 'lr': lr}]
  if strategy.backbone == 'frozen':
    backbone.requires_grad_(False)
  else:
    groups.append({'params': backbone.parameters(), 'lr': lr * (lr_mult if strategy.uses_lr_mult else 1.0)})
  optimizer = torch.optim.Adam(groups, betas=(adam_b1, adam_b2), eps=adam_eps)
  x, y = torch.from_numpy(np.array(pool_x)).to(device), torch.from_numpy(np.array(pool_y)).long().to(device)
  generator = torch.Generator(device=device).manual_seed(seed)
  synchronize = torch.cuda.synchronize if device.startswith('cuda') else lambda: None  # a GPU runs asynchronously
  synchronize()
  start = time.perf_counter()
  for _ in range(steps):
    idx = torch.randint(0, data_size, (batch_size,), generator=generator, device=device)
    loss = torch.nn.functional.cross_entropy(head(backbone(x[idx])), y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
  synchronize()
  seconds = time.perf_counter() - start
  with torch.no_grad():
    logits = head(backbone(torch.from_numpy(np.array(test_x)).to(device)))
    accuracy = float((logits.argmax(-1).cpu().numpy() == np.asarray(test_y)).mean())
  return accuracy, seconds

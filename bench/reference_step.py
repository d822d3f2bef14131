"""Cost of one w-step of the authors' PyTorch NAT (guoyongcs/NAT) on this machine, for comparison
with natjax's `bench/search_step.py`.

Imports the reference's search network from a checkout given by `--reference DIR` (nothing of it
is copied here), builds it as its `train_search.py` does by default (C=20, 8 cells, 4 nodes, the
'FULLY_CONCAT_PRIMITIVES' DARTS op list, cross entropy, SGD lr 0.01, momentum 0.9, weight decay
3e-4), and times its `model.step(input, target)`: a freshly sampled architecture, forward,
backward and the SGD update, on random CIFAR-10-shaped tensors (no data loading). The model runs
in train mode on the CPU with `--threads` torch threads (default 2).

Modules the reference imports but a w-step never calls (torchvision, graphviz, scipy and the
pygcn package behind its policy) are stood in for by empty modules when they are missing, so the
checkout runs in a bare torch environment; `--reference` is put first on `sys.path`.

On a loaded machine, PyTorch's OpenMP workers spin at every barrier: with 2 threads and another
process on a core, single steps took 3 to 76 s on this 2-core CPU where a quiet one takes ~1 s
(1 thread: 1.5-2 s steady). `OMP_WAIT_POLICY=PASSIVE` in the environment keeps them near 2 s;
`load_avg` says what the run saw.

Prints ONE JSON line:
  {"reference": DIR, "w_step_ms" (median), "w_step_ms_all", "steps", "warmup", "batch",
   "channels", "num_cells", "torch", "threads", "load_avg" (1-minute, before and after)}

Usage:
  python bench/reference_step.py --reference /path/to/NAT          # 10 steps after 3 warm-up
  python bench/reference_step.py --reference /path/to/NAT --steps 5
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
import types
from typing import Any, Dict

# What the reference's modules import at load time but a w-step does not use: module name ->
# attribute names that must exist on the stand-in.
_UNUSED_IMPORTS = {
    "torchvision": (),
    "torchvision.transforms": (),
    "graphviz": ("Digraph",),
    "scipy": (),
    "scipy.sparse": (),
}


def _stand_in(name: str, attrs) -> None:
  module = types.ModuleType(name)
  for attr in attrs:
    setattr(module, attr, type(attr, (), {}))
  sys.modules[name] = module
  parent, _, child = name.rpartition(".")
  if parent in sys.modules:
    setattr(sys.modules[parent], child, module)


def _graph_convolution_stand_in(torch: Any) -> None:
  """pygcn.layers.GraphConvolution for the policy the network builds (unused by a w-step): a
  graph convolution adj @ (x @ W) + b, enough to construct the network."""

  class GraphConvolution(torch.nn.Module):

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
      super().__init__()
      self.weight = torch.nn.Parameter(torch.empty(in_features, out_features).uniform_(-0.1, 0.1))
      self.bias = torch.nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x, adj):
      out = adj @ (x @ self.weight)
      return out if self.bias is None else out + self.bias

  package = types.ModuleType("pygcn")
  layers = types.ModuleType("pygcn.layers")
  layers.GraphConvolution = GraphConvolution
  package.layers = layers
  sys.modules["pygcn"], sys.modules["pygcn.layers"] = package, layers


def load_reference(directory: str, torch: Any) -> Any:
  """The reference's `search_model` module, imported from `directory`.

  Raises:
    SystemExit: `directory` has no search_model.py (one line naming it).
  """
  if not os.path.isfile(os.path.join(directory, "search_model.py")):
    raise SystemExit(f"--reference {directory}: no search_model.py there (expected a checkout of"
                     " guoyongcs/NAT)")
  for name, attrs in _UNUSED_IMPORTS.items():
    try:
      importlib.import_module(name)
    except ImportError:
      _stand_in(name, attrs)
  try:
    importlib.import_module("pygcn.layers")
  except ImportError:
    _graph_convolution_stand_in(torch)
  sys.path.insert(0, os.path.abspath(directory))
  return importlib.import_module("search_model")


def bench(directory: str, num_steps: int, warmup: int, batch: int, channels: int, num_cells: int,
          threads: int, seed: int = 0) -> Dict[str, Any]:
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(threads)
  torch.manual_seed(seed)
  search_model = load_reference(directory, torch)
  load_before = os.getloadavg()[0]
  device = torch.device("cpu")
  criterion = torch.nn.CrossEntropyLoss()
  # train_search.py's defaults (its argparse): 4 nodes, controller_hid 100, entropy 0.003 x 2,
  # edge_hid 100, transformer nfeat 1024 / nhid 100, no dropout, no normalisation.
  model = search_model.NASNetwork(
      channels, 10, num_cells, criterion, device, steps=4, controller_hid=100,
      entropy_coeff=[0.003, 0.003], edge_hid=100, transformer_nfeat=1024, transformer_nhid=100,
      transformer_dropout=0, transformer_normalize=False, loose_end=False,
      op_type="FULLY_CONCAT_PRIMITIVES")
  model._model_optimizer = torch.optim.SGD(  # pylint: disable=protected-access
      model.model_parameters(), 0.01, momentum=0.9, weight_decay=3e-4)
  model.train()
  images = torch.randn(batch, 3, 32, 32)
  labels = torch.randint(0, 10, (batch,))
  for _ in range(warmup):
    model.step(images, labels)
  times = []
  for _ in range(num_steps):
    start = time.perf_counter()
    _, loss = model.step(images, labels)
    loss.item()
    times.append(1e3 * (time.perf_counter() - start))
  return {"reference": os.path.abspath(directory), "w_step_ms": round(statistics.median(times), 1),
          "w_step_ms_all": [round(t, 1) for t in times], "steps": num_steps, "warmup": warmup,
          "batch": batch, "channels": channels, "num_cells": num_cells,
          "torch": torch.__version__, "threads": torch.get_num_threads(),
          "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reference", required=True, help="a checkout of guoyongcs/NAT")
  parser.add_argument("--steps", type=int, default=10, help="timed steps")
  parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
  parser.add_argument("--batch", type=int, default=64, help="batch size (train_search: 64)")
  parser.add_argument("--channels", type=int, default=20, help="C (train_search: 20)")
  parser.add_argument("--cells", type=int, default=8, help="cells (train_search: 8)")
  parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
  args = parser.parse_args()
  print(json.dumps(bench(args.reference, args.steps, args.warmup, args.batch, args.channels,
                         args.cells, args.threads)), flush=True)


if __name__ == "__main__":
  main()

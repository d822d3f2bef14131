"""Derivation (spec section 8) and the held-out check of a search's policy.

Derivation: each input architecture (e.g. DARTS) goes through the policy in one batched call: K
sampled candidates plus the greedy one. Candidates that cost more than the input or whose cells
no longer depend on their inputs are dropped; the others are scored with the supernet's shared
weights (BatchNorm on batch statistics) on fixed batches, one architecture after another (never
vmapped through the supernet), and the most accurate is kept. If none is valid, the input is
returned unchanged and the entry says so.

Held-out check: over fresh random input architectures, the mean shared-weight reward
acc(beta) - acc(alpha) of the policy's beta against a uniformly random rule-valid beta (the same
rule's mask with equal logits), each the first valid of a few draws.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import arch, costs, sampler
from natjax.core.arch import Arch, Genotype
from natjax.io import notation
from natjax.search import transform


def _nth(tree: Any, *index: int) -> Any:
  return jax.tree.map(lambda a: a[index], tree)


def mean_accuracy(score: Callable, w_params: Any, batches: Sequence[Any], candidate: Arch) -> float:
  """Mean of `score(w_params, batch, arch)` over fixed batches (f32 accuracies in [0, 1])."""
  total = 0.0
  for batch in batches:
    total += float(score(w_params, batch, candidate))
  return total / len(batches)


def _entry(genotype: Genotype, params: int, madds: int, **extra: Any) -> Dict[str, Any]:
  return {**notation.genotype_to_json(genotype), "params": int(params), "madds": int(madds),
          **extra}


def derive(setup: Any, score: Callable, w_params: Any, theta_params: Any,
           inputs: Sequence[Tuple[str, Genotype]], batches: Sequence[Any], key: jax.Array,
           num_samples: int) -> List[Dict[str, Any]]:
  """Transforms and scores each input architecture; returns one derived.json entry per input.

  Args:
    setup: the search's `natjax.search.steps.Setup` (space, rule, policy numerics).
    score: the compiled shared-weight accuracy, (w_params, batch, arch) -> f32[].
    w_params, theta_params: supernet and policy weights.
    inputs: (name, genotype) pairs in the setup's space.
    batches: the fixed (sharded) batches candidates are scored on.
    key: PRNG key of the candidate draws.
    num_samples: K sampled candidates per input (plus the greedy one).

  Returns:
    [{"name", "input": {genotype..., params, madds, accuracy}, "output": {... the chosen
      candidate, with "source", "log_prob", "accuracy"}, "candidates": [...]}].
  """
  space = setup.space
  archs = arch.stack_archs([arch.genotype_to_arch(g, space, f"{n}: ") for n, g in inputs])
  common = dict(rule=setup.rule, space=space, released_quirk=setup.policy.released_quirk)
  sampled = transform.transform(theta_params, archs, key, mode="sample", num_samples=num_samples,
                                **common)
  greedy = transform.transform(theta_params, archs, key, mode="greedy", num_samples=1, **common)
  costs_of = {id(res): costs.exact_costs(res.outputs, space) for res in (sampled, greedy)}
  entries = []
  for b, (name, genotype) in enumerate(inputs):
    in_params, in_madds = costs.exact_costs(_nth(archs, b), space)
    alpha = _nth(archs, b)
    accuracy = mean_accuracy(score, w_params, batches, alpha)
    candidates = []
    for source, res, k in ([(f"sample {k}", sampled, k) for k in range(num_samples)]
                           + [("greedy", greedy, 0)]):
      beta = _nth(res.outputs, b, k)
      valid = bool(res.cost_ok[b, k]) and bool(res.connected[b, k])
      out_params, out_madds = (c[b, k] for c in costs_of[id(res)])
      candidates.append(_entry(
          arch.arch_to_genotype(jax.tree.map(np.asarray, beta), space), out_params, out_madds,
          source=source, log_prob=float(res.log_prob[b, k]), cost_ok=bool(res.cost_ok[b, k]),
          connected=bool(res.connected[b, k]),
          accuracy=mean_accuracy(score, w_params, batches, beta) if valid else None))
    valid = [c for c in candidates if c["accuracy"] is not None]
    if valid:
      output = max(valid, key=lambda c: c["accuracy"])  # first of equals: deterministic
    else:
      output = _entry(genotype, in_params, in_madds, source="input (no valid candidate)",
                      log_prob=None, cost_ok=True, connected=True, accuracy=accuracy)
    entries.append({"name": name,
                    "input": _entry(genotype, in_params, in_madds, accuracy=accuracy),
                    "output": output, "candidates": candidates})
  return entries


def output_genotype(entry: Dict[str, Any]) -> Genotype:
  """The chosen genotype of a derived.json entry."""
  fields = {f: entry["output"][f] for f in Genotype._fields}
  return notation.genotype_from_json(fields, f"{entry['name']}: ")


def _first_valid(res: transform.TransformResult) -> Tuple[np.ndarray, np.ndarray]:
  """Per input, the index of the first valid draw and whether there was one."""
  valid = np.asarray(res.cost_ok) & np.asarray(res.connected)
  return np.argmax(valid, axis=1), valid.any(axis=1)


def evaluate_policy(setup: Any, score: Callable, w_params: Any, theta_params: Any,
                    batches: Sequence[Any], key: jax.Array, num_archs: int,
                    draws: int = 4) -> Dict[str, Any]:
  """Mean shared-weight reward of the policy's beta and of a random rule-valid beta.

  Args:
    setup, score, w_params, theta_params, batches: as in `derive`.
    key: PRNG key (the held-out architectures and both draws).
    num_archs: number of held-out random input architectures.
    draws: draws per input; the first valid one is used, else beta = alpha (reward 0).

  Returns:
    {"policy_reward", "random_reward" (means over inputs), "eval_archs", "policy_fallbacks",
     "random_fallbacks" (inputs with no valid draw), "supernet_accuracy" (mean acc(alpha))}.
  """
  arch_key, policy_key, random_key = jax.random.split(key, 3)
  alphas = sampler.sample_archs(arch_key, setup.space, num_archs)
  common = dict(rule=setup.rule, space=setup.space, released_quirk=setup.policy.released_quirk,
                mode="sample", num_samples=draws)
  learned = transform.transform(theta_params, alphas, policy_key, **common)
  uniform_params = jax.tree.map(jnp.zeros_like, theta_params)  # equal logits: uniform on the mask
  uniform = transform.transform(uniform_params, alphas, random_key, **common)
  p_index, p_found = _first_valid(learned)
  r_index, r_found = _first_valid(uniform)
  rewards = {"policy": [], "random": []}
  acc_alpha = []
  for i in range(num_archs):
    alpha = _nth(alphas, i)
    base = mean_accuracy(score, w_params, batches, alpha)
    acc_alpha.append(base)
    for name, res, index, found in (("policy", learned, p_index, p_found),
                                    ("random", uniform, r_index, r_found)):
      if found[i]:
        beta = _nth(res.outputs, i, int(index[i]))
        rewards[name].append(mean_accuracy(score, w_params, batches, beta) - base)
      else:
        rewards[name].append(0.0)
  return {"policy_reward": float(np.mean(rewards["policy"])),
          "random_reward": float(np.mean(rewards["random"])),
          "eval_archs": int(num_archs),
          "policy_fallbacks": int((~p_found).sum()), "random_fallbacks": int((~r_found).sum()),
          "supernet_accuracy": float(np.mean(acc_alpha))}


def changed_edges(before: Genotype, after: Genotype) -> List[str]:
  """Human-readable edge changes, e.g. 'normal 0->2: sep_conv_3x3 => skip_connect'."""
  lines = []
  for cell in arch.CELL_TYPES:
    for (op_a, src, dst), (op_b, _, _) in zip(getattr(before, cell), getattr(after, cell)):
      if op_a != op_b:
        lines.append(f"{cell} {src}->{dst}: {op_a} => {op_b}")
  return lines

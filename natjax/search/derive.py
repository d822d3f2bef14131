"""Derivation (spec section 8) and the held-out check of a search's policy.

Both score architectures with the supernet's shared weights (BatchNorm on batch statistics) through
one compiled function, `natjax.search.steps.score_archs`, wrapped by `Scorer`: architectures go in
chunks of a fixed size (one compile), one after another inside the chunk (never vmapped through
the supernet), each over every example of a fixed evaluation set, and an architecture that appears
twice is scored once.

Derivation: each input architecture (e.g. DARTS) goes through the policy in one batched call: K
sampled candidates plus the greedy one. Candidates that cost more than the input or whose cells
no longer depend on their inputs are dropped; the others are scored and the most accurate is kept.
If none is valid, the input is returned unchanged and the entry says so. The input itself is not
a candidate (as released), so the output can score below it.

Held-out check (`evaluate_policy`): does the policy improve architectures it has never seen, and
by more than chance? For `num_archs` fresh uniform inputs alpha, on the same images (paired), the
reward acc(beta) - acc(alpha) of five transformations:

  policy         beta ~ pi(. | alpha), the policy's sample
  greedy         the policy's most likely move on every edge
  random         uniform over the rule's allowed moves on every edge (the rule's mask with equal
                 logits: what a policy that learned nothing does)
  random_nonull  as random, but never `null` (the one thing a weakly trained policy learns first
                 is to avoid null; this separates that from anything finer)
  nothing        beta = alpha, reward 0 by definition (not computed)

Sampled variants use the first of `draws` draws that keeps the cost and the cell inputs (as
derivation would), else beta = alpha. For each: the mean reward and its standard error over
architectures, the win rate (fraction of alpha with acc(beta) > acc(alpha)), and the mean relative
change of params and MAdds in the CIFAR network; also the paired difference policy - random with
its standard error.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from natjax.core import arch, costs, sampler
from natjax.core.arch import Arch, Genotype
from natjax.io import notation
from natjax.nn import policy
from natjax.search import transform

CHUNK = 64  # architectures per call of the compiled scoring function (its only shape)
SYNC_EVERY = 8  # calls in flight at most (CPU collectives deadlock with too many queued)
VARIANTS = ("policy", "greedy", "random", "random_nonull")
LABELS = {"policy": "policy sample", "greedy": "policy greedy", "random": "random rule-valid",
          "random_nonull": "random, never null", "nothing": "change nothing"}


def _nth(tree: Any, *index: int) -> Any:
  return jax.tree.map(lambda a: a[index], tree)


class Scorer:
  """Shared-weight accuracies of architectures on one fixed evaluation set.

  Attributes:
    scored: distinct architectures scored so far.
    seconds: wall time spent scoring them (compilation included on the first call).
  """

  def __init__(self, score_archs: Callable, w_params: Any, eval_set: Any, chunk: int = CHUNK):
    """score_archs: `Steps.score_archs`; eval_set: a `natjax.search.loop.EvalSet`."""
    self._fn, self._w_params, self._set, self._chunk = score_archs, w_params, eval_set, chunk
    self.scored, self.seconds = 0, 0.0

  @property
  def num_examples(self) -> int:
    return self._set.num_examples

  def __call__(self, archs: Arch) -> np.ndarray:
    """f32[A] accuracies in [0, 1] of Arch `archs` with leaves [A, ...] (host or device)."""
    start = time.perf_counter()
    host = jax.tree.map(np.asarray, archs)
    num = host.normal.op.shape[0]
    rows = np.concatenate([a.reshape(num, -1).astype(np.int32) for a in jax.tree.leaves(host)],
                          axis=1)
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    unique = _nth(host, first)  # one of each, in the sorted order of their rows
    num_unique = first.size
    pending, results = [], []
    for lo in range(0, num_unique, self._chunk):
      part = _nth(unique, np.minimum(np.arange(lo, lo + self._chunk), num_unique - 1))
      count = np.int32(min(self._chunk, num_unique - lo))
      pending.append((count, self._fn(self._w_params, self._set.arrays, part, count,
                                      np.int32(self._set.num_batches))))
      if len(pending) >= SYNC_EVERY:
        results += [np.asarray(r)[:c] for c, r in jax.device_get(pending)]
        pending = []
    results += [np.asarray(r)[:c] for c, r in jax.device_get(pending)]
    acc = np.concatenate(results) if results else np.zeros((0,), np.float32)
    self.scored += num_unique
    self.seconds += time.perf_counter() - start
    return acc[np.reshape(inverse, -1)]


def derive(setup: Any, scorer: Scorer, theta_params: Any, inputs: Sequence[Tuple[str, Genotype]],
           key: jax.Array, num_samples: int) -> List[Dict[str, Any]]:
  """Transforms and scores each input architecture; returns one derived.json entry per input.

  Args:
    setup: the search's `natjax.search.steps.Setup` (space, rule, policy numerics).
    scorer: shared-weight accuracy on the derivation set (the theta split).
    theta_params: policy weights.
    inputs: (name, genotype) pairs in the setup's space.
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
  sampled, greedy = jax.device_get((sampled, greedy))  # read per candidate below: once to host
  sources = [(f"sample {k}", sampled, k) for k in range(num_samples)] + [("greedy", greedy, 0)]
  to_score = [_nth(archs, b) for b in range(len(inputs))]
  for b in range(len(inputs)):
    for _, res, k in sources:
      if bool(res.cost_ok[b, k]) and bool(res.connected[b, k]):
        to_score.append(_nth(res.outputs, b, k))
  accuracies = iter(float(a) for a in scorer(arch.stack_archs(to_score)))
  input_accuracy = [next(accuracies) for _ in inputs]
  costs_of = {id(res): costs.exact_costs(res.outputs, space) for res in (sampled, greedy)}
  input_params, input_madds = costs.exact_costs(archs, space)
  entries = []
  for b, (name, genotype) in enumerate(inputs):
    in_params, in_madds = input_params[b], input_madds[b]
    candidates = []
    for source, res, k in sources:
      beta = _nth(res.outputs, b, k)
      valid = bool(res.cost_ok[b, k]) and bool(res.connected[b, k])
      out_params, out_madds = (c[b, k] for c in costs_of[id(res)])
      candidates.append(transform.report_entry(
          arch.arch_to_genotype(beta, space), out_params, out_madds,
          source=source, log_prob=float(res.log_prob[b, k]), cost_ok=bool(res.cost_ok[b, k]),
          connected=bool(res.connected[b, k]), accuracy=next(accuracies) if valid else None))
    valid = [c for c in candidates if c["accuracy"] is not None]
    if valid:
      output = max(valid, key=lambda c: c["accuracy"])  # first of equals: deterministic
    else:
      output = transform.report_entry(genotype, in_params, in_madds,
                                      source="input (no valid candidate)", log_prob=None,
                                      cost_ok=True, connected=True, accuracy=input_accuracy[b])
    entries.append({"name": name,
                    "input": transform.report_entry(genotype, in_params, in_madds,
                                                    accuracy=input_accuracy[b]),
                    "output": output, "candidates": candidates})
  return entries


def output_genotype(entry: Dict[str, Any]) -> Genotype:
  """The chosen genotype of a derived.json entry."""
  fields = {f: entry["output"][f] for f in Genotype._fields}
  return notation.genotype_from_json(fields, f"{entry['name']}: ")


# ----------------------------------------------------------------------------------------------
# The held-out check.


def constant_policy_params(theta_params: Any, pol: policy.Policy, allow_null: bool = True) -> Any:
  """Parameters of the same policy network whose logits are the same for every input.

  All weights are 0, so every allowed move of every edge gets the same logit (uniform over the
  rule's moves); with `allow_null=False` the head's bias puts -1e9 on the move to null (the
  'null' action under 'nat', the null op under 'mask'), which then has probability 0.
  """
  params = jax.tree.map(jnp.zeros_like, theta_params)
  if allow_null:
    return params
  num_k = policy.num_actions(pol.module.head, pol.module.num_ops)
  null = policy.NAT_ACTIONS.index("null") if pol.module.head == "nat" else pol.null_index
  bias = params["params"]["head"]["bias"].at[jnp.array([null, num_k + null])].set(-1e9)
  head = {**params["params"]["head"], "bias": bias}
  return {**params, "params": {**params["params"], "head": head}}


def _first_valid(res: transform.TransformResult) -> Tuple[np.ndarray, np.ndarray]:
  """Per input, the index of the first valid draw and whether there was one."""
  valid = np.asarray(res.cost_ok) & np.asarray(res.connected)
  return np.argmax(valid, axis=1), valid.any(axis=1)


def _mean_se(x: np.ndarray) -> Tuple[float, float]:
  x = np.asarray(x, np.float64)
  return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def held_out_statistics(acc_alpha: np.ndarray, acc_beta: Dict[str, np.ndarray],
                        params_change: Dict[str, np.ndarray],
                        madds_change: Dict[str, np.ndarray]) -> Dict[str, float]:
  """The check's figures from per-architecture numbers (pure numpy).

  Args:
    acc_alpha: f[n] shared-weight accuracy of each input (n >= 2).
    acc_beta: {variant: f[n]} accuracy of each variant's output for the same inputs and images.
    params_change, madds_change: {variant: f[n]} cost(beta) / cost(alpha) - 1.

  Returns:
    {'supernet_accuracy', 'supernet_accuracy_se'} and, per variant X: 'X_reward' (mean of
    acc(beta) - acc(alpha)), 'X_reward_se' (its standard error over architectures, sample std with
    ddof 1 / sqrt(n)), 'X_win_rate' (fraction with acc(beta) > acc(alpha)), 'X_params_change',
    'X_madds_change' (means); with 'policy' and 'random', 'policy_minus_random' and its '_se'
    (paired over architectures).
  """
  out = {}
  out["supernet_accuracy"], out["supernet_accuracy_se"] = _mean_se(acc_alpha)
  rewards = {}
  for name, acc in acc_beta.items():
    rewards[name] = np.asarray(acc, np.float64) - np.asarray(acc_alpha, np.float64)
    out[f"{name}_reward"], out[f"{name}_reward_se"] = _mean_se(rewards[name])
    out[f"{name}_win_rate"] = float(np.mean(np.asarray(acc) > np.asarray(acc_alpha)))
    out[f"{name}_params_change"] = float(np.mean(params_change[name]))
    out[f"{name}_madds_change"] = float(np.mean(madds_change[name]))
  if "policy" in rewards and "random" in rewards:
    out["policy_minus_random"], out["policy_minus_random_se"] = _mean_se(
        rewards["policy"] - rewards["random"])
  return out


def evaluate_policy(setup: Any, scorer: Scorer, theta_params: Any, key: jax.Array,
                    num_archs: int, draws: int = 4) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """The held-out check (module docstring) over `num_archs` fresh random inputs.

  Args:
    setup: the search's `natjax.search.steps.Setup`.
    scorer: shared-weight accuracy on the held-out set (the test split).
    theta_params: the policy's weights.
    key: PRNG key of the inputs and of every draw.
    num_archs: n >= 2 random inputs.
    draws: draws per input for the sampled variants; the first valid one is used.

  Returns:
    (summary, per_arch): summary holds `held_out_statistics` plus 'eval_archs',
    'eval_examples', 'X_fallbacks' (inputs with no valid draw, beta = alpha) and
    'scored_archs_per_s'; per_arch holds the arrays behind it: 'alphas' (Arch [n, ...]),
    'acc_alpha' f32[n], and per variant 'betas', 'acc', 'params_change', 'madds_change',
    'fallback'.
  """
  arch_key, policy_key, greedy_key, random_key, nonull_key = jax.random.split(key, 5)
  space = setup.space
  alphas = jax.tree.map(np.asarray, sampler.sample_archs(arch_key, space, num_archs))
  common = dict(rule=setup.rule, space=space)
  learned = dict(common, released_quirk=setup.policy.released_quirk)
  results = {
      "policy": transform.transform(theta_params, alphas, policy_key, mode="sample",
                                    num_samples=draws, **learned),
      "greedy": transform.transform(theta_params, alphas, greedy_key, mode="greedy",
                                    num_samples=1, **learned),
      "random": transform.transform(constant_policy_params(theta_params, setup.policy), alphas,
                                    random_key, mode="sample", num_samples=draws, **common),
      "random_nonull": transform.transform(
          constant_policy_params(theta_params, setup.policy, allow_null=False), alphas,
          nonull_key, mode="sample", num_samples=draws, **common),
  }
  per_arch = {"alphas": alphas}
  betas, index = [], np.arange(num_archs)
  for name, res in results.items():
    pick, found = _first_valid(res)
    outputs = jax.tree.map(np.asarray, res.outputs)
    beta = jax.tree.map(lambda o, a: np.where(
        found.reshape((-1,) + (1,) * (a.ndim - 1)), o[index, pick], a), outputs, alphas)
    in_params, in_madds = np.asarray(res.in_params, np.float64), np.asarray(res.in_madds)
    out_params = np.where(found, np.asarray(res.out_params)[index, pick], in_params)
    out_madds = np.where(found, np.asarray(res.out_madds)[index, pick], in_madds)
    per_arch[name] = {"betas": beta, "fallback": ~found,
                      "params_change": out_params / in_params - 1.0,
                      "madds_change": out_madds / in_madds - 1.0}
    betas.append(beta)
  start = (scorer.scored, scorer.seconds)
  acc = scorer(_stack_batches([alphas] + betas))
  per_arch["acc_alpha"] = acc[:num_archs]
  for v, name in enumerate(results):
    per_arch[name]["acc"] = acc[(v + 1) * num_archs:(v + 2) * num_archs]
  summary = held_out_statistics(per_arch["acc_alpha"],
                                {n: per_arch[n]["acc"] for n in results},
                                {n: per_arch[n]["params_change"] for n in results},
                                {n: per_arch[n]["madds_change"] for n in results})
  scored, seconds = scorer.scored - start[0], scorer.seconds - start[1]
  summary.update({"eval_archs": int(num_archs), "eval_examples": int(scorer.num_examples),
                  **{f"{n}_fallbacks": int(per_arch[n]["fallback"].sum()) for n in results},
                  "scored_archs": int(scored),
                  "scored_archs_per_s": float(scored / seconds) if seconds > 0 else 0.0})
  return summary, per_arch


def _stack_batches(batches: Sequence[Arch]) -> Arch:
  """Concatenates Arch batches [n_i, ...] along the leading axis."""
  return jax.tree.map(lambda *a: np.concatenate(a), *batches)


def format_held_out(summary: Dict[str, Any]) -> str:
  """The held-out check as a small table (rows: the variants and 'change nothing'), from
  `evaluate_policy`'s summary (or summary.json; the scoring speed is printed when present)."""
  lines = [f"held-out check: {summary['eval_archs']} random input architectures, each scored with"
           f" the shared weights on the same {summary['eval_examples']:,} test images"
           f" (mean shared-weight accuracy of the inputs {summary['supernet_accuracy']:.3f})",
           f"  {'transformation':<20} {'reward':>8} {'+- SE':>7} {'win rate':>9}"
           f" {'params':>8} {'MAdds':>8}"]
  for name in VARIANTS + ("nothing",):
    if name == "nothing":
      values = (0.0, 0.0, 0.0, 0.0, 0.0)
    else:
      values = tuple(summary[f"{name}_{k}"] for k in ("reward", "reward_se", "win_rate",
                                                      "params_change", "madds_change"))
    r, se, win, dp, dm = values
    lines.append(f"  {LABELS[name]:<20} {r:>+8.4f} {se:>7.4f} {win:>9.2f} {100 * dp:>+7.1f}%"
                 f" {100 * dm:>+7.1f}%")
  line = (f"  policy - random: {summary['policy_minus_random']:+.4f} +-"
          f" {summary['policy_minus_random_se']:.4f} (paired); reward = acc(beta) - acc(alpha)")
  if "scored_archs" in summary:
    line += (f"; scored {summary['scored_archs']:,} distinct architectures at"
             f" {summary['scored_archs_per_s']:.1f} archs/s")
  lines.append(line)
  return "\n".join(lines)


def changed_edges(before: Genotype, after: Genotype) -> List[str]:
  """Human-readable edge changes, e.g. 'normal 0->2: sep_conv_3x3 => skip_connect'."""
  lines = []
  for cell in arch.CELL_TYPES:
    for (op_a, src, dst), (op_b, _, _) in zip(getattr(before, cell), getattr(after, cell)):
      if op_a != op_b:
        lines.append(f"{cell} {src}->{dst}: {op_a} => {op_b}")
  return lines

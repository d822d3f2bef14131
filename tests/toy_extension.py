"""A toy research fork: a new op family ('channel_scale'), one op of it and one new op of an existing
family ('sep_conv_1x1', an op of the NAT++ code that natjax does not register), a small space of
them and a few built-in ops, and a rule over that space.

Importing this module registers nothing: tests register its entries for a while
(`natjax.core.extend.temporary(**ENTRIES)`), and toy_fork.py registers them for good, as a fork
module named by `natjax --imports` does.
"""

import jax

from natjax.core.families import OpFamily
from natjax.core.ops import OpSpec
from natjax.core.rules import Rule
from natjax.core.spaces import SearchSpace
from natjax.kernels import conv
from natjax.kernels.initializers import conv_weight


def _scale_init(spec, c, stride, norm):
  bn, stats = norm.init(c)
  return {"dw": conv_weight((1, 1, c), 1), **bn}, stats


def _scale_apply(params, stats, x, spec, stride, impl, norm):
  """ReLU -> per-channel scale (a 1x1 depthwise conv, stride s) -> BN."""
  y = conv.depthwise_conv(jax.nn.relu(x), params["dw"], stride, 1, impl)
  return norm(params, stats, y)


def _scale_cost(spec, c, h_out, w_out, stride):
  return c + 2 * c, c * h_out * w_out  # the scales and BN's affine; one multiply per output


def _scale_reference(spec, c, hw):
  return c, c * hw


CHANNEL_SCALE = OpFamily("channel_scale", _scale_init, _scale_apply, _scale_cost,
                         _scale_reference, kernel=False)
OPS = (OpSpec("channel_scale", "channel_scale"), OpSpec("sep_conv_1x1", "sep_conv", 1))
SPACE = SearchSpace("toy", ("sep_conv_1x1", "channel_scale", "sep_conv_3x3", "max_pool_3x3",
                            "skip_connect", "null"), num_nodes=2, output="loose_end")


def _prune_row(op):
  if op in ("skip_connect", "null"):
    return ("skip_connect", "null")
  return (op, "skip_connect", "null")


RULE = Rule("toy_prune", {op: _prune_row(op) for op in SPACE.ops},
            frozenset({("null", "skip_connect")}), "mask")
ENTRIES = {"families": [CHANNEL_SCALE], "ops": list(OPS), "spaces": [SPACE], "rules": [RULE]}

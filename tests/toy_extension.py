"""The extension tests' research fork: examples/fork's grouped convolutions (a new op family, two
ops of it, the space 'grouped' and the rule 'grouping'), plus a new op of an existing family
('sep_conv_1x1', an op of the NAT++ code that natjax does not register) and a small loose-end
space 'toy' that mixes the new ops with built-in ones.

Importing this module registers nothing: tests register ENTRIES for a while
(`natjax.core.extend.temporary(**ENTRIES)`). The fork's definitions come from
examples/fork/grouped_conv.py loaded as a plain module, because importing the package
`examples.fork` registers them for good, and other tests in the same process would then see (and
collect parameters over) its entries.
"""

import importlib.util
import os

from natjax.core.ops import OpSpec
from natjax.core.spaces import SearchSpace

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _load_module(name, path):
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


fork = _load_module("natjax_test_fork_grouped_conv",
                    os.path.join(REPO, "examples", "fork", "grouped_conv.py"))

SEP_CONV_1X1 = OpSpec("sep_conv_1x1", "sep_conv", 1)
NEW_OPS = tuple(op.name for op in fork.OPS) + (SEP_CONV_1X1.name,)
SPACE = SearchSpace("toy", NEW_OPS + ("sep_conv_3x3", "max_pool_3x3", "skip_connect", "null"),
                    num_nodes=2, output="loose_end")
ENTRIES = {"families": [fork.GROUP_CONV], "ops": list(fork.OPS) + [SEP_CONV_1X1],
           "spaces": [fork.SPACE, SPACE], "rules": [fork.RULE]}

"""A research fork of natjax, outside the package: grouped convolutions as a new op family, a
search space and a transition rule that use them (`grouped_conv.py` defines them, README.md runs
them).

Importing this package registers them, which is what `natjax --imports examples.fork ...` does
before the command runs (from the repository root, where `examples` is importable):

  natjax --imports examples.fork cost --arch examples/fork/grouped_darts.json

A search or a policy export records the import (config.json, policy.json), so a policy trained
here loads in a fresh process without naming the fork again.
"""

import natjax
from examples.fork import grouped_conv

natjax.register_op_family(grouped_conv.GROUP_CONV)
for _op in grouped_conv.OPS:
  natjax.register_op(_op)
natjax.register_space(grouped_conv.SPACE)
natjax.register_rule(grouped_conv.RULE)

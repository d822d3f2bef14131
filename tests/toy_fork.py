"""The toy fork as `natjax --imports toy_fork` loads it: registers toy_extension's entries."""

import toy_extension

from natjax.core import families, ops, rules, spaces

families.register_op_family(toy_extension.CHANNEL_SCALE)
for _spec in toy_extension.OPS:
  ops.register_op(_spec)
spaces.register_space(toy_extension.SPACE)
rules.register_rule(toy_extension.RULE)

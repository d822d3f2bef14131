"""Importing this module registers `drivers.small_space()`, the search space 'small'.

The end-to-end search tests name it in their config's `imports`, as a fork names its module: the
processes they start import it before building the search, and `search.restore` imports it again
from config.json.
"""

import drivers
from natjax.core import spaces

SPACE = drivers.small_space()
if SPACE.name not in spaces.registered_spaces():
  spaces.register_space(SPACE)

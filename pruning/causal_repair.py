"""Deprecated: the shortcut removal is :mod:`pruning.debias` now (``debias``, ``DebiasSettings``).

These aliases stay for one release.
"""

import warnings

from .debias import *  # noqa: F403
from .debias import DebiasSettings, debias

warnings.warn("pruning.causal_repair is now pruning.debias (causal_repair -> debias, RepairSettings -> "
              "DebiasSettings)", DeprecationWarning, stacklevel=2)

RepairSettings = DebiasSettings
causal_repair = debias

"""Runs PyPI's target-parquet 0.0.1 unchanged on Python 3.11+: it still names
collections.MutableMapping (moved to collections.abc in 3.10) and imports pkg_resources only for
its usage ping, which the config disables. Usage: target_parquet_run.py -c CONFIG < singer lines."""
import collections
import collections.abc
import sys
import types

collections.MutableMapping = collections.abc.MutableMapping
try:
    import pkg_resources  # noqa: F401
except ImportError:
    sys.modules["pkg_resources"] = types.ModuleType("pkg_resources")

import target_parquet

target_parquet.main()

"""The base configuration: `cnnjax.train.config.get_base_config`, re-exported for old imports.

The schema (every key, its default and accepted values) lives in the library,
`cnnjax/train/config.py`; config files import it from there.
"""

from cnnjax.train.config import get_base_config

__all__ = ["get_base_config"]

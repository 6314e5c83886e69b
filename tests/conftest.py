"""Test-wide setup: prepared datasets go to one temporary data dir shared by the session.

Set before anything imports cnnjax, so subprocesses started by tests inherit it too.
"""

import os
import tempfile

import matplotlib

matplotlib.use("Agg")

os.environ.setdefault("CNNJAX_DATA_DIR", tempfile.mkdtemp(prefix="cnnjax-test-data-"))

"""Test-wide setup: prepared datasets go to one temporary data dir shared by the session.

Set before anything imports cnnjax, so subprocesses started by tests inherit it too.
"""

import atexit
import os
import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")

if "CNNJAX_DATA_DIR" not in os.environ:
    os.environ["CNNJAX_DATA_DIR"] = tempfile.mkdtemp(prefix="cnnjax-test-data-")
    atexit.register(shutil.rmtree, os.environ["CNNJAX_DATA_DIR"], ignore_errors=True)

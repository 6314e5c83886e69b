"""absl entry points and configs of cnnjax (`python -m experiments.<entry>`).

Importing the package relaunches an entry point with glibc's huge-page malloc where that helps
(`experiments/huge_pages.py`) and with tcmalloc where it is installed (`experiments/allocator.py`);
importing it any other way changes nothing.
"""

from experiments import huge_pages

huge_pages.relaunch_if_entry_point()

"""Whether this entry point runs with huge-page malloc and tcmalloc, and the page faults saved.

    python -m experiments.page_faults
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 thp='madvise' glibc=(2, 36)
    huge_pages=on
    allocator=default
    page_faults_64MiB=544 (4 KiB pages: 16384)
    page_faults_64MiB_again=544

Writing into a fresh 64 MiB buffer takes one fault per 4 KiB page without huge pages (16,385
here) and a few hundred with them (`experiments/huge_pages.py` says when they are used). glibc
takes them again for the next buffer after the first is freed (what every train step's buffer
costs); with tcmalloc preloaded (`experiments/allocator.py`) the first buffer takes 16,385 and
the next none.
"""

import os
import resource

from experiments import allocator, huge_pages

PAGE = 4096


def page_faults_touching(n_bytes: int) -> int:
    """Minor page faults taken while writing one byte into every 4 KiB page of a fresh buffer."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = bytearray(n_bytes)  # calloc: fresh mmap'd pages, not yet touched
    buffer[::PAGE] = b"\x01" * len(range(0, n_bytes, PAGE))
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main() -> None:
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    n_bytes = 64 << 20
    thp = huge_pages.thp_mode() or "unknown"
    print(f"GLIBC_TUNABLES={tunables} thp={thp!r} glibc={huge_pages.glibc_version()}")
    print(f"huge_pages={huge_pages.status()}")
    print(f"allocator={allocator.status()}")
    print(f"page_faults_64MiB={page_faults_touching(n_bytes)} (4 KiB pages: {n_bytes // PAGE})")
    # A second buffer after the first is freed, as each train step's: glibc maps it anew,
    # tcmalloc hands back the memory it kept.
    print(f"page_faults_64MiB_again={page_faults_touching(n_bytes)}")


if __name__ == "__main__":
    main()

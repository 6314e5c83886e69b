"""`experiments/allocator.py`: tcmalloc preloaded into entry points where it is installed."""

import os

import pytest
from page_faults_run import page_faults

from experiments import allocator

SONAME = "libtcmalloc_minimal.so.4"


def test_find_tcmalloc_takes_the_first_library_the_linker_knows():
    known = {"tcmalloc": "libtcmalloc.so.4", "tcmalloc_minimal": SONAME}
    assert allocator.find_tcmalloc(known.get) == SONAME
    assert allocator.find_tcmalloc({"tcmalloc": "libtcmalloc.so.4"}.get) == "libtcmalloc.so.4"
    assert allocator.find_tcmalloc(lambda name: None) == ""


def test_preload_environ_adds_the_library_before_the_users_preloads():
    assert allocator.preload_environ({"A": "1"}, SONAME) == {"A": "1", "LD_PRELOAD": SONAME}
    env = allocator.preload_environ({"LD_PRELOAD": "libfoo.so"}, SONAME)
    assert env == {"LD_PRELOAD": f"{SONAME}:libfoo.so"}


@pytest.mark.parametrize(
    "environ, library",
    [
        ({}, ""),  # not installed
        ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, SONAME),  # the user's allocator wins
        ({"LD_PRELOAD": SONAME}, SONAME),  # already relaunched
        ({"CNNJAX_TCMALLOC": "0"}, SONAME),
        ({"CNNJAX_TCMALLOC": " Off "}, SONAME),
        ({"CNNJAX_FAST_CPU": "false"}, SONAME),
    ],
)
def test_preload_environ_changes_nothing_where_it_should_not(environ, library):
    assert allocator.preload_environ(environ, library) is None


def test_the_opt_out_is_read_as_cnnjax_reads_it():
    from cnnjax.ops import dispatch

    assert dispatch.ENV_VAR in allocator.OPT_OUT_ENVS
    assert set(allocator.OPT_OUT_VALUES) == set(dispatch._OFF)


def test_status_reads_ld_preload():
    assert allocator.status({"LD_PRELOAD": f"/x/{SONAME}"}) == "tcmalloc"
    assert allocator.status({}) == "default"


@pytest.mark.skipif(
    not allocator.find_tcmalloc(), reason="needs tcmalloc (apt-get install libtcmalloc-minimal4)"
)
def test_the_relaunched_entry_point_reuses_freed_memory():
    """With tcmalloc a second 64 MiB buffer, after the first is freed, takes no page faults;
    glibc's malloc (opted out) maps it anew."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "CNNJAX_FAST_CPU")}
    on = page_faults(env)
    off = page_faults({**env, "CNNJAX_TCMALLOC": "0"})
    assert on["allocator"] == "tcmalloc" and off["allocator"] == "default"
    assert int(on["page_faults_64MiB_again"]) < 100
    assert int(off["page_faults_64MiB_again"]) > 500  # 544 with huge pages, 16,385 without

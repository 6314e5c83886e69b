"""`experiments.huge_pages`: entry points, and only entry points, relaunch with huge-page malloc."""

import os
import sys

import pytest
from page_faults_run import page_faults

from experiments import huge_pages

ENTRY = ["/venv/bin/python", "-m", "experiments.train", "--workdir=runs/x"]
ENVIRON = {"PATH": "/usr/bin", "GLIBC_TUNABLES": ""}
LINUX = ("madvise", (2, 36))


@pytest.mark.parametrize(
    "argv, module",
    [
        (["python", "-m", "experiments.train", "--config.x=1"], "experiments.train"),
        (["python", "-X", "dev", "-u", "-m", "experiments.benchmark"], "experiments.benchmark"),
        (["python", "-mexperiments.evaluate"], "experiments.evaluate"),
        (["python", "-m", "pytest", "-q"], "pytest"),
        (["python", "script.py", "-m", "experiments.train"], ""),  # -m is the script's argument
        (["python", "-c", "import experiments", "-m", "experiments.x"], ""),
        (["python"], ""),
    ],
)
def test_entry_point_reads_the_interpreters_command_line(argv, module):
    assert huge_pages.entry_point(argv) == module


def test_an_entry_point_is_relaunched_with_the_tunable_appended():
    env = huge_pages.relaunch_environ(ENVIRON, ENTRY, *LINUX)
    assert env == {"PATH": "/usr/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    own = {**ENVIRON, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert huge_pages.relaunch_environ(own, ENTRY, *LINUX)["GLIBC_TUNABLES"] == (
        "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"  # the user's tunables are kept
    )


@pytest.mark.parametrize(
    "environ, argv, thp, glibc",
    [
        (ENVIRON, ["python", "-m", "pytest"], *LINUX),  # not an entry point
        (ENVIRON, ["python", "-m", "experimentsx.train"], *LINUX),
        (ENVIRON, ENTRY, "always", (2, 36)),  # huge pages without asking
        (ENVIRON, ENTRY, "never", (2, 36)),  # no huge pages at all
        (ENVIRON, ENTRY, "", (2, 36)),  # no THP in this kernel
        (ENVIRON, ENTRY, "madvise", (2, 34)),  # glibc without the tunable
        (ENVIRON, ENTRY, "madvise", ()),  # not glibc (musl)
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, ENTRY, *LINUX),  # the user's choice
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, ENTRY, *LINUX),  # relaunched already
        ({"CNNJAX_FAST_CPU": " Off "}, ENTRY, *LINUX),  # the opt-out
    ],
)
def test_no_relaunch_unless_every_condition_holds(environ, argv, thp, glibc):
    assert huge_pages.relaunch_environ(environ, argv, thp, glibc) is None


def test_thp_mode_reads_the_bracketed_choice(tmp_path):
    path = tmp_path / "enabled"
    path.write_text("always [madvise] never\n")  # the kernel's format
    assert huge_pages.thp_mode(str(path)) == "madvise"
    assert huge_pages.thp_mode(str(tmp_path / "missing")) == ""


@pytest.mark.skipif(
    huge_pages.thp_mode() != "madvise" or huge_pages.glibc_version() < huge_pages.MIN_GLIBC,
    reason="needs Linux with transparent huge pages in madvise mode and glibc >= 2.35",
)
def test_the_relaunched_entry_point_takes_huge_pages():
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "CNNJAX_FAST_CPU")}
    env["CNNJAX_TCMALLOC"] = "0"  # glibc's malloc, whose mappings the tunable is for
    on = page_faults(env)
    off = page_faults({**env, "CNNJAX_FAST_CPU": "0"})
    assert on["huge_pages"] == "on" and off["huge_pages"] == "off"
    assert on["GLIBC_TUNABLES"].split(" ")[0] == "glibc.malloc.hugetlb=1"
    faults_on, faults_off = (int(run["page_faults_64MiB"].split()[0]) for run in (on, off))
    assert faults_off >= 16384  # one per 4 KiB page: what the tunable is there to avoid
    assert faults_on < faults_off / 4  # 2 MiB pages (544 on the 2-core machine)


def test_in_effect_reads_the_tunable_list():
    assert huge_pages.in_effect(
        {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}
    )
    assert not huge_pages.in_effect({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})
    assert not huge_pages.in_effect({})


def test_a_failed_relaunch_runs_on_in_the_same_process(monkeypatch):
    calls = []

    def execve(*args):
        calls.append(args)
        raise PermissionError("not allowed here")

    monkeypatch.setattr(huge_pages, "relaunch_environ", lambda *_: {"GLIBC_TUNABLES": "x"})
    monkeypatch.setattr(huge_pages.os, "execve", execve)
    huge_pages.relaunch_if_entry_point()  # returns instead of raising
    assert calls and calls[0][2] == {"GLIBC_TUNABLES": "x"}
    assert calls[0][1][0] == sys.executable


def test_the_opt_out_is_read_as_cnnjax_reads_it():
    """huge_pages cannot import cnnjax (that imports JAX before the relaunch), so it repeats the
    opt-out's name and values; they must not drift from `cnnjax.ops.dispatch`'s."""
    from cnnjax.ops import dispatch

    assert huge_pages.OPT_OUT_ENV == dispatch.ENV_VAR
    assert set(huge_pages.OPT_OUT_VALUES) == set(dispatch._OFF)
    assert huge_pages.status({"GLIBC_TUNABLES": huge_pages.TUNABLE}) == "on"
    assert huge_pages.status({}) == "off"

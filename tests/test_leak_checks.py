"""The suite's leak checks (tests/conftest.py and pyproject's filterwarnings) fail the test that leaks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LEAKY = '''
import asyncio
import socket
import threading

import pytest


def leave_a_task_pending():
    loop = asyncio.new_event_loop()
    loop.create_task(asyncio.sleep(3600))
    loop.run_until_complete(asyncio.sleep(0))  # the task starts, and waits
    loop.close()


def test_leaves_a_task_pending():
    leave_a_task_pending()


@pytest.mark.asyncio_error("Task was destroyed but it is pending!")
def test_expects_the_pending_task():
    leave_a_task_pending()


@pytest.mark.asyncio_error("Task was destroyed but it is pending!")
def test_expects_a_pending_task_that_never_comes():
    asyncio.run(asyncio.sleep(0))


def test_leaves_a_socket_open():
    socket.socket()


def test_a_thread_dies():
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()


def test_never_awaits_a_coroutine():
    asyncio.sleep(0)


def test_clean():
    asyncio.run(asyncio.sleep(0))


KEPT = []


def test_keeps_a_pending_task_alive():
    loop = asyncio.new_event_loop()
    task = loop.create_task(asyncio.sleep(3600))
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    cycle = {"task": task}
    cycle["cycle"] = cycle  # garbage only the cyclic collector finds, once released
    KEPT.append(cycle)


def test_releases_it():
    KEPT.clear()  # garbage now, but frozen alive after the test before: found after the last test
'''


def run_pytest(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """pytest with this suite's conftest and settings on the tests of LEAKY."""
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "-p", "tests.conftest",
                           "-p", "no:cacheprovider", "-q", "-rfE", *options, str(tmp_path / "test_leaky.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_leaking_test_fails_and_says_what_leaked(tmp_path):
    done = run_pytest(tmp_path, "-p", "no:xdist", "-k", "not keeps and not releases")
    summary = {match[1]: match[0] for match in re.finditer(r"^(?:FAILED|ERROR) \S*::(\w+)", done.stdout, re.M)}
    assert sorted(summary) == ["test_a_thread_dies", "test_expects_a_pending_task_that_never_comes",
                               "test_leaves_a_socket_open", "test_leaves_a_task_pending",
                               "test_never_awaits_a_coroutine"], done.stdout
    assert "asyncio reported, during this test: Task was destroyed but it is pending!" in done.stdout
    assert "asyncio did not report the expected 'Task was destroyed but it is pending!'" in done.stdout
    assert "ResourceWarning: unclosed <socket.socket" in done.stdout
    assert "ZeroDivisionError" in done.stdout
    assert "RuntimeWarning: coroutine 'sleep' was never awaited" in done.stdout
    # the two errors are teardowns of tests that passed: test_clean and test_expects_the_pending_task pass clean
    assert done.stdout.splitlines()[-1].startswith("3 failed, 4 passed, 2 deselected, 2 errors in "), done.stdout


@pytest.mark.parametrize("options", [pytest.param(("-p", "no:xdist"), id="one-process"),
                                     pytest.param(("-n", "1"), id="xdist", marks=pytest.mark.slow)])  # a worker: 5-10 s
def test_a_task_found_pending_after_the_last_test_fails_the_run(tmp_path, options):
    done = run_pytest(tmp_path, *options, "-k", "keeps or releases")
    assert done.returncode == 1, done.stdout
    assert "asyncio reported, after the last test: Task was destroyed but it is pending!" in done.stdout
    assert re.match(r"2 passed\b", done.stdout.splitlines()[-1]), done.stdout

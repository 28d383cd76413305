"""Child processes die with the process that started them, even when it is killed with SIGKILL.

A test run stopped by a timeout or Ctrl-C twice would otherwise leave a JVM behind for good, and
a killed connector its prepare processes.
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """A `preexec_fn`: Linux sends `signum` to the child when its parent thread exits."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not Linux/glibc: nothing to arrange, stop() still cleans up
        return
    libc.prctl(_PR_SET_PDEATHSIG, signum)

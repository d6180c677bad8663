# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calls that may block, run on daemon threads that the caller stops waiting for at a deadline.

A libvirt call can hang for as long as a QEMU does not answer its monitor;
``vm_gather`` runs every such call through ``run_until`` so that one stuck
domain costs its own answer only. A daemon thread left blocked in libvirt does
not keep the process alive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import queue
import threading
import time

WORKERS = 8


def run_until(jobs, deadline, workers=WORKERS):
    """Run ``jobs`` ({key: callable}) on daemon threads until done or ``deadline`` (monotonic).

    Returns {key: (ok, value_or_exception)} for the jobs that finished; a missing
    key means the job did not finish (or did not start) in time. Threads still
    blocked in libvirt are abandoned: they are daemons and get no further work.
    """
    if not jobs:
        return {}
    pending = queue.Queue()
    for item in jobs.items():
        pending.put(item)
    results = {}
    lock = threading.Lock()
    finished = threading.Event()
    expired = threading.Event()

    def worker():
        while not expired.is_set():
            try:
                key, job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = (True, job())
            except Exception as exc:  # handed to the caller, who decides
                outcome = (False, exc)
            with lock:
                results[key] = outcome
                if len(results) == len(jobs):
                    finished.set()

    for _i in range(min(workers, len(jobs))):
        thread = threading.Thread(target=worker, name='vm_stats-reader')
        thread.daemon = True
        thread.start()
    finished.wait(max(0.0, deadline - time.monotonic()))
    expired.set()
    with lock:
        return dict(results)


def timed(func, *args):
    """(func(*args), monotonic time it returned)."""
    value = func(*args)
    return value, time.monotonic()

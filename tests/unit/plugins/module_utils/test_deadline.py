"""deadline.run_until: jobs on daemon threads, abandoned at the deadline."""

import threading
import time

from ansible_collections.hypervisor.stats.plugins.module_utils.deadline import run_until


def test_run_until_abandons_a_blocked_job_at_the_deadline():
    release = threading.Event()
    jobs = {'stuck': release.wait, 'quick': lambda: 42, 'fails': lambda: 1 / 0}
    started = time.monotonic()
    answers = run_until(jobs, time.monotonic() + 0.5)
    elapsed = time.monotonic() - started
    release.set()
    assert 0.4 < elapsed < 2.0
    assert 'stuck' not in answers
    assert answers['quick'] == (True, 42)
    assert answers['fails'][0] is False and isinstance(answers['fails'][1], ZeroDivisionError)


def test_run_until_runs_jobs_concurrently():
    jobs = dict((i, lambda: time.sleep(0.3)) for i in range(8))
    started = time.monotonic()
    answers = run_until(jobs, time.monotonic() + 5, workers=8)
    assert len(answers) == 8 and time.monotonic() - started < 1.5

"""The capacity_report callback module: its file writer."""

import os
import stat

import pytest

from ansible_collections.hypervisor.stats.plugins.callback.capacity_report import write_atomic


def test_write_atomic_mode_replace_and_no_leftovers(tmp_path):
    target = tmp_path / 'capacity.prom'
    target.write_text('old')
    old_umask = os.umask(0o077)
    try:
        write_atomic(str(target), 'new\n')
    finally:
        os.umask(old_umask)
    assert target.read_text() == 'new\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ['capacity.prom']


def test_write_atomic_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / 'capacity.json'
    target.write_text('old')

    class Unwritable:
        def __str__(self):
            raise RuntimeError('render failed')

    with pytest.raises(TypeError):
        write_atomic(str(target), Unwritable())
    assert target.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['capacity.json']

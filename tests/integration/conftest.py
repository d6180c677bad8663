"""Fixtures for integration tests: a real libvirtd with the QEMU driver."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from libvirtd import Libvirtd, URI  # noqa: E402


@pytest.fixture(scope='session')
def libvirtd():
    """A running libvirtd on qemu:///system, started for the session and stopped after it."""
    daemon = Libvirtd().start()
    yield URI
    daemon.stop()

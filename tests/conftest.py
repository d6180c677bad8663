"""The one conftest of the suite: fixtures for unit and integration tests.

pytest.ini puts the collection (``.collections``) and the helper modules of
``tests/unit`` and ``tests/integration`` on the path, so no test edits sys.path.
Integration fixtures start real daemons (libvirtd with the QEMU driver, redis-server).
"""

import pytest


@pytest.fixture(scope='session')
def libvirtd():
    """A running libvirtd on qemu:///system, started for the session and stopped after it."""
    from libvirtd import Libvirtd, URI
    daemon = Libvirtd().start()
    yield URI
    daemon.stop()


GUEST_COUNT = 2


@pytest.fixture(scope='session')
def guests(libvirtd):
    """Two tiny running QEMU guests (busybox, TCG, 96 MiB) on ``qemu:///system``, shared by the session.

    Yields a ``guests.GuestPool`` (see tests/integration/guests.py) whose ``guests``
    list holds the two ``Guest`` objects, booted and generating disk and network
    traffic. Each Guest has ``name``, ``uuid``, ``domain()`` (libvirt domain on the
    pool's read-write ``conn``), ``tap`` (host-side NIC name), ``host_address`` /
    ``guest_address`` (its link-local /30), ``run(line)`` (a shell line in the
    guest; ``burn N`` keeps its vCPU busy N s, ``unburn`` stops it), ``frozen()`` (context manager:
    QEMU SIGSTOPped inside), ``reset()``, ``reboot()``, ``destroy()``, ``start()``
    and ``wait_ready()``. ``pool.transient(suffix)`` starts one more guest that is
    not defined (it vanishes when destroyed). A test that stops or freezes a guest
    must leave it running and ready again. Everything is removed at the end.
    """
    import libvirt
    from guests import GuestPool
    conn = libvirt.open(libvirtd)
    pool = None
    try:
        pool = GuestPool(conn)
        pool.boot(GUEST_COUNT)
        yield pool
    finally:
        if pool is not None:
            pool.cleanup()
        conn.close()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on 127.0.0.1 (free port, data saved on shutdown), stopped after the test."""
    from redis_server import RedisServer
    server = RedisServer(str(tmp_path / 'redis')).start()
    try:
        yield server
    finally:
        server.stop()

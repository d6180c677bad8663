"""A real redis-server on 127.0.0.1, on a free port, for the redis fact cache tests.

It keeps its data in its own directory and saves it on shutdown, so a restart
between two cycles behaves like a production redis with persistence.
"""

import os
import shutil
import socket
import subprocess
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisServer(object):
    def __init__(self, workdir, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.process = None
        self.binary = shutil.which('redis-server') or '/usr/bin/redis-server'

    @property
    def connection(self):
        """The community.general.redis cache plugin's connection string (host:port:db)."""
        return '127.0.0.1:%d:0' % self.port

    def start(self, timeout=20):
        os.makedirs(self.workdir, exist_ok=True)
        self.log = open(os.path.join(self.workdir, 'redis.log'), 'ab')
        self.process = subprocess.Popen(
            [self.binary, '--bind', '127.0.0.1', '--port', str(self.port), '--dir', self.workdir,
             '--save', '3600 1', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no'],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('redis-server exited with %s; see %s/redis.log' % (self.process.returncode, self.workdir))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1) as sock:
                    sock.sendall(b'PING\r\n')
                    if sock.recv(64).startswith(b'+PONG'):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError('redis-server did not answer on 127.0.0.1:%d within %ss' % (self.port, timeout))

    def stop(self, timeout=20):
        """SIGTERM: redis saves its data (a save point is configured) and exits."""
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
        finally:
            self.process = None
            self.log.close()

    def restart(self):
        self.stop()
        return self.start()

"""Stand-in for pip's get-pip.py bootstrap script, for ansible-test.

ansible-test bootstraps pip in its sanity virtualenvs by downloading get-pip.py
from ci-files.testing.ansible.com, a host these machines cannot reach. It first
looks in ~/.ansible/test/cache/get_pip_<version>.py; run.sh places this file
there beside the matching pip wheel fetched from PyPI, and this script does
what get-pip.py does: run pip from the wheel to install the requested pip.
"""
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = os.path.splitext(os.path.basename(__file__))[0].replace('get_pip_', '').replace('_', '.')
WHEELS = glob.glob(os.path.join(HERE, 'pip-%s-*.whl' % VERSION))
if not WHEELS:
    sys.exit('get_pip stand-in: no pip %s wheel in %s' % (VERSION, HERE))
sys.path.insert(0, WHEELS[0])  # a pip wheel is importable as it is

from pip._internal.cli.main import main  # noqa: E402

# get-pip.py's own flags: it installs setuptools and wheel unless told not to; we never do.
ARGS = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(main(['install', '--upgrade', '--force-reinstall'] + ARGS))

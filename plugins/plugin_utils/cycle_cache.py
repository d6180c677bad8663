# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fact cache as the collection cycle needs it: working, readable, and the same across ansible-core releases.

Two layouts of one host's entry exist, and each ansible-core reads only its own:

* ansible-core 2.16 to 2.18: key ``<host>``, the facts themselves as plain JSON;
* ansible-core 2.19: key ``s1_<host>`` (its cache schema 1), ``{"__payload__": "<JSON text>"}`` whose
  values carry data tags (``{"__ansible_type": "_AnsibleTaggedDict", "value": ..., "tags": [...]}``).

An upgrade to 2.19 therefore finds no counters (and a downgrade finds the ones it left behind), with no
warning. ``CycleCache.counters`` reads both layouts and keeps, per host, the newest counters.

A damaged entry of the running release's layout (valid JSON but not a mapping, an unreadable file, a
directory in its place) stops every host of a play that reads it (rc 250 or a failure for everyone);
``CycleCache.check`` moves such an entry aside (jsonfile-like plugins) or deletes it, naming it, so
that only that host starts its counters afresh. A cache that does not keep what is written to it (a
file in place of the directory, a read-only directory: Ansible disables the plugin with one warning)
raises ``CacheFault`` naming the path, instead of a run that ends 0 with every total at zero.
"""

import json
import os
import time

from collections.abc import Mapping

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import COUNTERS_FACT

TAGGED_PREFIX = 's1_'          # ansible-core 2.19's key prefix (cache persistence schema 1)
PAYLOAD = '__payload__'
TYPE_KEY = '__ansible_type'
PROBE_KEY = 'hypervisor_stats_cache_probe'


class CacheFault(Exception):
    """The fact cache cannot keep the counters; the message names where."""


def untag(value):
    """A 2.19 cache payload's values without their data tags (what 2.16 to 2.18 would have stored)."""
    if isinstance(value, dict):
        if TYPE_KEY in value and 'value' in value:
            return untag(value['value'])
        return dict((k, untag(v)) for k, v in value.items() if k != TYPE_KEY)
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


def decode_tagged(entry):
    """The facts of a 2.19 entry, untagged; ValueError when it is not one."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get(PAYLOAD), str):
        raise ValueError('not a {"%s": "<JSON text>"} entry' % PAYLOAD)
    return untag(json.loads(entry[PAYLOAD]))


def _collected_at(counters):
    value = counters.get('collected_at') if isinstance(counters, Mapping) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _reason(exc):
    cause = exc.__cause__ or exc.__context__
    text = str(exc) if not cause or str(cause) in str(exc) else '%s (%s)' % (exc, cause)
    return ' '.join(text.split())


class CycleCache(object):
    """The configured fact cache plugin, seen in both layouts.

    ``plugin`` is what ``cache_loader.get`` returns: on 2.19 an interposer around the plugin
    (``__wrapped__``) that adds the prefix and the payload; before 2.19 the plugin itself.
    """

    def __init__(self, plugin, name):
        self.name = name
        self.plugin = plugin
        self.raw = getattr(plugin, '__wrapped__', plugin)
        self.tagged = self.raw is not plugin   # this ansible-core writes the 2.19 layout
        self.persistent = bool(getattr(self.raw, '_persistent', True))

    @classmethod
    def configured(cls):
        """The plugin Ansible itself uses (C.CACHE_PLUGIN), or CacheFault when it cannot be loaded."""
        from ansible import constants as C
        from ansible.plugins.loader import cache_loader
        name = C.CACHE_PLUGIN
        try:
            plugin = cache_loader.get(name)
        except Exception as exc:
            raise CacheFault('the fact cache (%s, %s) cannot be used: %s' % (
                name, getattr(C, 'CACHE_PLUGIN_CONNECTION', None), _reason(exc)))
        if not plugin:   # before 2.19 the loader gives None when the plugin refuses its connection
            raise CacheFault('the fact cache (%s, %s) cannot be used: the plugin cannot be loaded with it'
                             % (name, getattr(C, 'CACHE_PLUGIN_CONNECTION', None)))
        return cls(plugin, name)

    # --- where an entry lives -------------------------------------------------

    def key(self, host, tagged):
        return TAGGED_PREFIX + host if tagged else host

    def path(self, key):
        """The file of a file-based plugin (jsonfile, yaml, pickle), else None."""
        name_of = getattr(self.raw, '_get_cache_file_name', None)
        return name_of(key) if callable(name_of) else None

    def where(self, key):
        path = self.path(key)
        if path:
            return path
        prefix = ''
        try:
            prefix = self.raw.get_option('_prefix') or ''
        except Exception:
            pass
        return '%s key %s%s' % (self.name, prefix, key)

    # --- reading ----------------------------------------------------------------

    def _read(self, host, tagged):
        """('missing'|'ok'|'damaged', facts or reason) of one layout, read as the raw plugin stores it."""
        key = self.key(host, tagged)
        try:
            value = self.raw.get(key)
        except KeyError:
            return 'missing', None
        except Exception as exc:
            return 'damaged', 'cannot be read: %s' % _reason(exc)
        if tagged:
            try:
                value = decode_tagged(value)
            except (ValueError, TypeError) as exc:
                return 'damaged', 'cannot be decoded: %s' % exc
        if not isinstance(value, Mapping):
            return 'damaged', 'holds %s, not a mapping of facts' % type(value).__name__
        return 'ok', value

    def _read_current(self, host):
        """The running release's own entry, read the way Ansible reads it (so what fails here fails there)."""
        key = self.key(host, self.tagged)
        try:
            value = self.plugin.get(host)
        except KeyError:
            if self.tagged and self.raw.contains(key):
                return 'damaged', 'has no %s' % PAYLOAD
            return 'missing', None
        except Exception as exc:
            return 'damaged', 'cannot be read: %s' % _reason(exc)
        if not isinstance(value, Mapping):
            return 'damaged', 'holds %s, not a mapping of facts' % type(value).__name__
        return 'ok', value

    # --- the check step -----------------------------------------------------------

    def probe(self):
        """CacheFault unless a value written through the plugin reads back through a fresh instance."""
        if not self.persistent:
            return False
        from ansible.plugins.loader import cache_loader
        stamp = {'written_at': time.time(), 'pid': os.getpid()}
        where = self.where(self.key(PROBE_KEY, self.tagged))
        try:
            self.plugin.set(PROBE_KEY, stamp)
            fresh = cache_loader.get(self.name)
            back = fresh.get(PROBE_KEY)
        except KeyError:
            raise CacheFault('the fact cache (%s) does not keep what is written to it: %s was not written'
                             % (self.name, where))
        except Exception as exc:
            raise CacheFault('the fact cache (%s) does not keep what is written to it (%s): %s'
                             % (self.name, where, _reason(exc)))
        finally:
            try:
                self.plugin.delete(PROBE_KEY)
            except Exception:
                pass
        if not isinstance(back, Mapping) or back.get('written_at') != stamp['written_at']:
            raise CacheFault('the fact cache (%s) does not keep what is written to it (%s): it read back %r'
                             % (self.name, where, back))
        return True

    def set_aside(self, host):
        """Move a damaged entry of this release's layout out of Ansible's way; returns where it went."""
        key = self.key(host, self.tagged)
        path = self.path(key)
        if path:
            if not os.path.lexists(path):
                return None   # Ansible already removed it (a file that was not JSON)
            target = os.path.join(os.path.dirname(path), '.%s.damaged' % os.path.basename(path))
            try:
                if os.path.isdir(target) and not os.path.islink(target):
                    os.rename(target, '%s.%d' % (target, int(time.time())))
                os.rename(path, target)
            except OSError as exc:
                raise CacheFault('the fact cache entry %s is damaged and cannot be moved aside: %s' % (path, exc))
            return target
        try:
            self.raw.delete(key)
        except Exception as exc:
            raise CacheFault('the fact cache entry %s is damaged and cannot be deleted: %s' % (self.where(key), exc))
        return 'deleted'

    def check(self, hosts):
        """Probe the cache, set damaged entries of ``hosts`` aside; [(host, warning)] of what was done."""
        warnings = []
        if not self.persistent:
            warnings.append((None, 'the fact cache plugin %s does not persist: the VM counters start afresh on every run '
                                   '(configure fact_caching, for example jsonfile)' % self.name))
        else:
            self.probe()
        for host in hosts:
            status, reason = self._read_current(host)
            if status != 'damaged':
                continue
            where = self.where(self.key(host, self.tagged))
            went = self.set_aside(host)
            moved = '' if went is None else (', deleted' if went == 'deleted' else ', moved to %s' % went)
            warnings.append((host, 'fact cache entry %s %s%s; %s starts its counters afresh'
                                   % (where, reason, moved, host)))
        return warnings

    # --- the main step ----------------------------------------------------------------

    def counters(self, hosts, current):
        """{host: counters}: ``current`` (what this release read) or, when newer, the other layout's.

        Returns (counters, notes) where notes is [(host, text)] of the entries taken from the other layout
        or skipped as damaged.
        """
        current = dict(current or {})
        notes = []
        if not self.persistent:
            return current, notes
        for host in hosts:
            status, facts = self._read(host, not self.tagged)
            other = self.where(self.key(host, not self.tagged))
            if status == 'damaged':
                notes.append((host, 'ignoring fact cache entry %s of another ansible-core release: %s' % (other, facts)))
                continue
            if status != 'ok' or not isinstance(facts.get(COUNTERS_FACT), Mapping):
                continue
            theirs = facts[COUNTERS_FACT]
            mine = current.get(host)
            if mine is None or (_collected_at(theirs) or 0) > (_collected_at(mine) or 0):
                current[host] = theirs
                notes.append((host, 'counters of %s read from %s, written by ansible-core %s' % (
                    host, other, '2.19 or later' if not self.tagged else '2.18 or earlier')))
        return current, notes

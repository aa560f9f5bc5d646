"""Small in-process caches of what never changes once written: a version's manifest lines (a
frozen version is immutable) and a stored file's parsed header (stored files are immutable).
They spare the frame and rendered paths two database round trips each. Access is never
cached: every request still builds its scope (which versions the caller may read) and the
cache keys include those version ids. Publishing a version clears them (ids can be reused after
a rollback, as in tests)."""
from collections import OrderedDict
from threading import Lock

from django.db.models.signals import post_delete, post_save


class LRU:
    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict(), Lock()

    def get(self, key):
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
            return value

    def put(self, key, value):
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self):
        with self.lock:
            self.data.clear()


entries = LRU(20000)   # (scope version ids, study, series, SOP, with syntax) → [wado.Entry] of one instance
listings = LRU(256)    # the same key for a whole study or series (lists of up to thousands of entries)
layouts = LRU(20000)   # (stored file id, storage name) → InstanceHeader without its JSON


def clear(*args, **kwargs):
    entries.clear()
    listings.clear()
    layouts.clear()


def connect():
    from collections_app.models import CollectionVersion

    post_save.connect(clear, sender=CollectionVersion, dispatch_uid="dicomweb-cache-version-saved")
    post_delete.connect(clear, sender=CollectionVersion, dispatch_uid="dicomweb-cache-version-deleted")

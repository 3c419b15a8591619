"""A small thread-safe cache for the app: bounded, least recently used out first, one computation per key.

What is here: ``Cache`` (``get_or_make(key, make)``: when many users ask for the same missing entry
at once, one of them computes it and the others wait for that result; entries are evicted by count
and, when ``max_bytes`` is given, by an estimate of their bytes) and ``nbytes`` (that estimate for
tensors, arrays and containers of them).

The bounded LRU mapping and the one computation per key are ``cachetools``' (``LRUCache`` and
``cached`` with a ``condition``); ``functools.lru_cache`` would be per function (module state), not
bounded by bytes, and would compute a missing key once per waiting thread.

What is not here: what is cached (the ``App`` in ``state.py`` owns every cache).
"""

import threading
from collections.abc import Callable, Hashable

import cachetools
import numpy as np
import torch


def nbytes(value) -> int:
    """An estimate of the memory held by tensors and arrays in ``value`` (dicts, lists, dataclasses)."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(nbytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 64


class _LRU(cachetools.LRUCache):
    """cachetools' LRU mapping, bounded by bytes (``nbytes``) and by a count; evicted values go to ``on_evict``."""

    def __init__(self, entries: int, max_bytes: int | None, on_evict: Callable | None):
        if max_bytes is None:
            super().__init__(entries)  # every entry has size 1: bounded by the count alone
        else:
            super().__init__(max_bytes, getsizeof=nbytes)
        self.entries, self.on_evict = entries, on_evict

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        while len(self) > self.entries:
            self.popitem()

    def popitem(self):
        key, value = super().popitem()  # cachetools evicts through here
        if self.on_evict is not None:
            self.on_evict(value)
        return key, value


class Cache:
    """A bounded LRU mapping whose missing entries are computed once, however many threads ask.

    Args:
        entries: most entries kept.
        max_bytes: most bytes kept (``nbytes`` of the values), or ``None`` for no byte bound; a value
            larger than this on its own is returned but not kept.
        on_evict: called with each evicted value (e.g. to delete a file).
    """

    def __init__(self, entries: int = 128, max_bytes: int | None = None, on_evict: Callable | None = None):
        self._items = _LRU(entries, max_bytes, on_evict)
        self._guard = threading.Condition()
        self._make = cachetools.cached(self._items, key=lambda key, make: key, lock=self._guard,
                                       condition=self._guard)(lambda key, make: make())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, default=None):
        with self._guard:
            return self._items.get(key, default)

    def put(self, key: Hashable, value) -> None:
        with self._guard:
            self._items[key] = value

    def get_or_make(self, key: Hashable, make: Callable[[], object]):
        """The cached value of ``key``, or ``make()``'s, computed by one thread while the others wait.

        An exception in ``make`` reaches the thread that ran it; waiting threads then try themselves.
        """
        return self._make(key, make)

    def clear(self) -> None:
        with self._guard:
            while self._items:
                self._items.popitem()

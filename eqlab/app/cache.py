"""A small thread-safe cache for the app: bounded, least recently used out first, one computation per key.

What is here: ``Cache`` (``get_or_make(key, make)``: when many users ask for the same missing entry
at once, one of them computes it and the others wait for that result; entries are evicted by count
and, when ``size`` is given, by an estimate of their bytes) and ``nbytes`` (that estimate for
tensors, arrays and containers of them).

Why hand-written: ``functools.lru_cache`` is per function (module state), is not bounded by bytes,
and computes a missing key once per waiting thread.

What is not here: what is cached (the ``App`` in ``state.py`` owns every cache).
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

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


class Cache:
    """A bounded LRU mapping whose missing entries are computed once, however many threads ask.

    Args:
        entries: most entries kept.
        max_bytes: most bytes kept (``nbytes`` of the values), or ``None`` for no byte bound.
        on_evict: called with each evicted value (e.g. to delete a file).
    """

    def __init__(self, entries: int = 128, max_bytes: int | None = None, on_evict: Callable | None = None):
        self.entries, self.max_bytes, self.on_evict = entries, max_bytes, on_evict
        self._items: OrderedDict = OrderedDict()  # key -> (value, bytes)
        self._pending: dict[Hashable, threading.Event] = {}
        self._guard = threading.Lock()
        self._bytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, default=None):
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
        return default

    def put(self, key: Hashable, value) -> None:
        size = nbytes(value) if self.max_bytes is not None else 0
        evicted = []
        with self._guard:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.entries or (self.max_bytes is not None and self._bytes > self.max_bytes
                                                      and len(self._items) > 1):
                _, (old, old_size) = self._items.popitem(last=False)
                self._bytes -= old_size
                evicted.append(old)
        for old in evicted:
            if self.on_evict is not None:
                self.on_evict(old)

    def get_or_make(self, key: Hashable, make: Callable[[], object]):
        """The cached value of ``key``, or ``make()``'s, computed by one thread while the others wait.

        An exception in ``make`` reaches the thread that ran it; waiting threads then try themselves.
        """
        while True:
            with self._guard:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key][0]
                waiting = self._pending.get(key)
                if waiting is None:
                    done = self._pending[key] = threading.Event()
                    self.misses += 1
                    break
            waiting.wait()
        try:
            value = make()
            self.put(key, value)
            return value
        finally:
            with self._guard:
                self._pending.pop(key, None)
            done.set()

    def clear(self) -> None:
        with self._guard:
            values = [v for v, _ in self._items.values()]
            self._items.clear()
            self._bytes = 0
        for old in values:
            if self.on_evict is not None:
                self.on_evict(old)

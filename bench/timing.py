"""One timer for the benches: wrap a function so the wall time spent inside it adds up."""
import functools
import time


def timed(fn, totals: dict, key: str):
    """`fn`, with the wall time of each call added to totals[key] (name, module and signature kept)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

    return wrapper

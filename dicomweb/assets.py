"""WhiteNoise for the portal's static files and the OHIF viewer's assets (/viewer/…, from
settings.WHITENOISE_ROOT, dicomweb/viewer.py).

Two things differ for the viewer's assets, decided here once when WhiteNoise indexes the files:

- the viewer's scripts carry the policy its web workers need (`viewer.WORKER_POLICY`: the
  WebAssembly codecs' bindings evaluate code) instead of the portal's, which django-csp adds to
  every other response (it leaves a response that already has a policy alone);
- OHIF's content-hashed names are cached for ever, as Django's manifest names under /static/ are
  (WhiteNoise's own test, kept as it is: only files the manifest storage hashed are immutable).
"""
from whitenoise.middleware import WhiteNoiseMiddleware as BaseWhiteNoiseMiddleware

from .viewer import HASHED_ASSET, MOUNT, WORKER_POLICY


class WhiteNoiseMiddleware(BaseWhiteNoiseMiddleware):
    def immutable_file_test(self, path, url):
        return super().immutable_file_test(path, url) or bool(HASHED_ASSET.match(url))

    def add_cache_headers(self, headers, path, url):
        super().add_cache_headers(headers, path, url)
        if url.startswith(MOUNT) and url.endswith(".js"):
            headers["Content-Security-Policy"] = WORKER_POLICY

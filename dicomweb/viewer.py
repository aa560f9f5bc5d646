"""The OHIF viewer, served by the portal at /viewer/.

`manage.py install_ohif` (run by `make ohif`) fetches OHIF's prebuilt viewer, `@ohif/app` at
the pinned OHIF_VERSION, with `npm pack` (one tarball, npm's cache makes reruns offline), and
unpacks its `dist/` under settings.TCIA_OHIF_ROOT, which is git-ignored:

    <root>/public/viewer/…   the assets, served by WhiteNoise (WHITENOISE_ROOT = <root>/public)
    <root>/index.html        the page, served by `index` below with its Content-Security-Policy
    <root>/installed-<ver>   marker: present means done, so CI and `make` skip the download

The build assumes it lives at "/": the page's asset links, `window.PUBLIC_URL` and webpack's
public path ("/") are rewritten to "/viewer/". Left out: the service worker (it would cache the
viewer beyond its version), the AI-segmentation runtime (`ort/`, 136 MB) and the microscopy
viewer (slide microscopy is not archived here). `app-config.js` is ours (APP_CONFIG below):
one data source, this portal's /dicomweb/.
"""
from __future__ import annotations

import hashlib
import base64
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from csp.decorators import csp_exempt
from django.conf import settings
from django.http import Http404, HttpResponse

OHIF_VERSION = "3.13.2"
PACKAGE = "@ohif/app"
MOUNT = "/viewer/"
SKIPPED = ("ort/", "dicom-microscopy-viewer/", "sw.js", "init-service-worker.js", "_headers", "_redirects",
           "serve.json", "app-config.js", "index.html", "google.js")

APP_CONFIG = """/* Written by manage.py install_ohif: OHIF reads this portal's DICOMweb root. */
window.config = {
  routerBasename: '/viewer',
  showStudyList: true,
  extensions: [],
  modes: [],
  customizationService: {},
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: 'never' },
  maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 10 },
  defaultDataSourceName: 'archive',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'archive',
      configuration: {
        friendlyName: 'This archive (released versions)',
        name: 'archive',
        qidoRoot: window.location.origin + '/dicomweb',
        wadoRoot: window.location.origin + '/dicomweb',
        wadoUriRoot: window.location.origin + '/dicomweb',
        qidoSupportsIncludeField: true,
        supportsReject: false,
        supportsStow: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        omitQuotationForMultipartRequest: true,
        bulkDataURI: { enabled: true },
      },
    },
  ],
};
"""


def root() -> Path:
    return Path(settings.TCIA_OHIF_ROOT)


def installed() -> bool:
    return (root() / f"installed-{OHIF_VERSION}").exists() and (root() / "index.html").exists()


class InstallError(RuntimeError):
    pass


def install(force: bool = False, log=print) -> bool:
    """Fetch and unpack the pinned viewer; False when it was already there."""
    if installed() and not force:
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not installed (apt-get install npm): it fetches the OHIF viewer package")
    with tempfile.TemporaryDirectory(prefix="ohif-") as tmp:
        log(f"npm pack {PACKAGE}@{OHIF_VERSION} …")
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{OHIF_VERSION}", "--silent"], cwd=tmp,
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise InstallError(f"npm pack {PACKAGE}@{OHIF_VERSION} failed: {done.stderr.strip()[-500:]}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise InstallError("npm pack wrote no tarball")
        staging = Path(tmp) / "out"
        public = staging / "public" / "viewer"
        public.mkdir(parents=True)
        with tarfile.open(tarballs[0]) as tar:
            for member in tar.getmembers():
                if not member.name.startswith("package/dist/") or not member.isfile():
                    continue
                rel = member.name[len("package/dist/"):]
                if ".." in Path(rel).parts:
                    raise InstallError(f"unsafe path in the package: {member.name}")
                data = tar.extractfile(member).read()
                if rel == "index.html":
                    (staging / "index.html").write_bytes(rewrite_index(data.decode("utf-8")).encode("utf-8"))
                    continue
                if rel.startswith(SKIPPED) or rel in SKIPPED:
                    continue
                if rel.endswith(".js"):
                    data = data.replace(b'__webpack_require__.p = "/";', b'__webpack_require__.p = "/viewer/";')
                elif rel.endswith(".css"):
                    data = re.sub(rb"url\(/(?!/)", b"url(/viewer/", data)
                target = public / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        (public / "app-config.js").write_text(APP_CONFIG, encoding="utf-8")
        if not (staging / "index.html").exists():
            raise InstallError("the package has no dist/index.html")
        (staging / f"installed-{OHIF_VERSION}").write_text(f"{PACKAGE}@{OHIF_VERSION}\n", encoding="utf-8")
        target_root = root()
        if target_root.exists():
            shutil.rmtree(target_root)
        target_root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(target_root))
    log(f"OHIF {OHIF_VERSION} unpacked in {target_root}")
    return True


_INLINE = re.compile(r"<script>(.*?)</script>", re.S)


def rewrite_index(html: str) -> str:
    html = re.sub(r'(href|src)="/(?!/)', rf'\1="{MOUNT}', html)
    html = html.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{MOUNT}"')
    html = re.sub(r'<script[^>]*init-service-worker\.js"[^>]*></script>', "", html)
    return html


def inline_script_hashes(html: str) -> list[str]:
    return ["'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
            for s in _INLINE.findall(html)]


def content_security_policy(html: str) -> str:
    """What the viewer needs and nothing more, found by tightening it in Chromium until the
    viewer test (uncompressed CT and JPEG 2000 frames) logged no violation: the page's two
    inline scripts by hash; React's inline styles ('unsafe-inline' styles); data: images (the
    viewer's icons and thumbnails). Everything else — scripts, web workers (whose WebAssembly
    codecs run under the workers' own, unrestricted, responses), fonts, DICOMweb requests — is
    this origin ('self'). No 'unsafe-eval', no 'wasm-unsafe-eval' on the page, no blob: workers."""
    scripts = " ".join(["'self'", *inline_script_hashes(html)])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


# The viewer's scripts (served by WhiteNoise, dicomweb.assets) carry this policy rather than the
# portal's, because a web worker runs under its own script's response policy: OHIF's image codecs
# run in workers as WebAssembly whose emscripten bindings (embind) build their call wrappers with
# `new Function`, so a worker needs 'unsafe-eval' (which includes compiling WebAssembly). Found
# with the JPEG 2000 browser test: with 'wasm-unsafe-eval' alone the decoder fails on the eval.
# It is given to scripts only (a script is a document nowhere, a worker at most); the viewer's
# page keeps its own policy without it, and every other file under /viewer/ the portal's.
WORKER_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
# OHIF's bundles, codecs and fonts carry a 16-hex-digit content hash in their names.
HASHED_ASSET = re.compile(r"^/viewer/(?:.+\.)?[0-9a-f]{16}\.[A-Za-z0-9]+$")

_PAGE: dict = {}


def _page():
    page = root() / "index.html"
    if not page.exists():
        raise Http404("The OHIF viewer is not installed on this server (make ohif).")
    stamp = page.stat().st_mtime
    cached = _PAGE.get("page")
    if cached is None or cached[0] != stamp:
        html = page.read_text(encoding="utf-8")
        cached = _PAGE["page"] = (stamp, html, content_security_policy(html))
    return cached[1], cached[2]


@csp_exempt()  # django-csp leaves this page's own policy (above) in place of the portal's
def index(request, path: str = ""):
    """Every /viewer/… route that is not an asset: OHIF's single page, with its CSP. With
    `?version=<id>` the page loads a configuration whose DICOMweb root is that frozen version."""
    html, policy = _page()
    version = request.GET.get("version", "")
    if version.isdigit():
        html = html.replace(f'src="{MOUNT}app-config.js"', f'src="{MOUNT}app-config-{int(version)}.js"')
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = policy
    response["Cache-Control"] = "no-cache"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


def version_config(request, version_id: int):
    """app-config.js for one frozen version: the same viewer, reading /dicomweb/versions/<id>."""
    text = APP_CONFIG.replace("'/dicomweb'", f"'/dicomweb/versions/{version_id}'").replace(
        "This archive (released versions)", f"This archive, version record {version_id}")
    response = HttpResponse(text, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def viewer_url(study_uid: str, series_uid: str | None = None, version_id: int | None = None) -> str:
    """The viewer opened on a study (and a series in it); on a pinned version with `version_id`."""
    from urllib.parse import urlencode

    params = {"StudyInstanceUIDs": study_uid}
    if series_uid:
        params["SeriesInstanceUIDs"] = series_uid
    if version_id is not None:
        params["version"] = version_id
    return f"{MOUNT}viewer?{urlencode(params)}"

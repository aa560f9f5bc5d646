#!/usr/bin/env bash
# The production processes, each of which can run on its own machine (all read the same
# environment: DATABASE_URL, TCIA_Q_REDIS, the TCIA_*_STORAGE buckets, DJANGO_SECRET_KEY, …):
#
#   scripts/serve.sh web        granian (WSGI), TCIA_WEB_WORKERS processes on TCIA_WEB_BIND
#   scripts/serve.sh worker     django-q2 cluster: intake chunks, checks, renders, schedules
#   scripts/serve.sh receiver   the DICOM C-STORE receiver on TCIA_DICOM_PORT
#   scripts/serve.sh all        the three on this machine (Ctrl-C stops them)
#
# `make serve` runs `all` (migrate and collectstatic first). DJANGO_DEBUG must be off. Each web worker
# has TCIA_WEB_THREADS threads, so a long download does not hold a whole process.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIND="${TCIA_WEB_BIND:-127.0.0.1:8000}"
WORKERS="${TCIA_WEB_WORKERS:-$(( $(nproc) * 2 ))}"

web() {
  # granian measured 1.3-1.35x gunicorn's sync workers on our pages (bench/pages.py --server).
  exec .venv/bin/granian --interface wsgi --host "${BIND%:*}" --port "${BIND##*:}" --workers "$WORKERS" \
    --blocking-threads "${TCIA_WEB_THREADS:-4}" --backpressure "${TCIA_WEB_BACKPRESSURE:-64}" --http1-keep-alive \
    --workers-lifetime "${TCIA_WEB_RECYCLE_SECONDS:-86400}" --log-level "${TCIA_WEB_LOG_LEVEL:-warning}" \
    tcia.wsgi:application
}
worker() { exec $PY manage.py qcluster; }
receiver() { exec $PY manage.py dicom_receiver --host "${TCIA_DICOM_HOST:-0.0.0.0}" --port "${TCIA_DICOM_PORT:-11112}"; }

case "${1:-all}" in
  web) web ;;
  worker) worker ;;
  receiver) receiver ;;
  all)
    $PY manage.py migrate --noinput -v0
    $PY manage.py collectstatic --noinput -v0
    trap 'kill 0' EXIT INT TERM
    (worker) & (receiver) & (web) &
    wait ;;
  *) echo "usage: scripts/serve.sh web|worker|receiver|all" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Start the portal with demo data on the embedded defaults: SQLite, django-q2's ORM broker and
# local files under ./var. Web server and task worker on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
PY=.venv/bin/python
mkdir -p "${TCIA_VAR_DIR:-var}"
$PY manage.py migrate --noinput -v0
$PY manage.py load_catalogue
$PY manage.py load_demo
$PY manage.py load_demo_proposals
$PY manage.py qcluster > "${TCIA_VAR_DIR:-var}/worker.log" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
echo
echo "Portal: http://127.0.0.1:8000/   (task worker log: var/worker.log)"
$PY manage.py runserver 127.0.0.1:8000

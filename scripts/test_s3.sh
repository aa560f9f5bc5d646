#!/usr/bin/env bash
# The storage, intake, download and fixity tests with the archive, quarantine and derived
# storages in a bucket of moto's standalone S3 server (moto[server], in the test extra), started
# here on a free local port and stopped on exit. DATABASE_URL selects PostgreSQL, as for test.sh.
# Arguments replace the default selection of test modules.
set -uo pipefail
cd "$(dirname "$0")/.."
PORT=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$PORT" > "${TMPDIR:-/tmp}/tcia-moto-$PORT.log" 2>&1 &
MOTO=$!
trap 'kill "$MOTO" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$MOTO" 2>/dev/null || { echo "moto's S3 server did not start" >&2; exit 1; }
  sleep 0.5
done
SELECTION=(tests/storage tests/curation/test_intake.py tests/curation/test_retry.py tests/curation/test_uploads.py
           tests/curation/test_intake_resources.py tests/curation/test_identity.py tests/curation/test_corrections.py
           tests/nbia/test_downloads.py tests/collections_app tests/doi tests/dicomweb/test_access_and_http.py
           tests/dicomweb/test_dicomweb_client.py tests/review/test_render.py tests/curation/test_processes.py
           tests/fixity)
[ "$#" -gt 0 ] && SELECTION=("$@")
echo "S3 server (moto) at http://127.0.0.1:$PORT; database: ${DATABASE_URL:-sqlite}"
TCIA_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT" ./scripts/test.sh "${SELECTION[@]}"

#!/usr/bin/env bash
# Runs every shipped scenario (interop-tests/scenarios/*.json) with capif-scenario; fails when
# one does, and checks that the two-domain report carries its sequence diagram.
set -euo pipefail
ROOT="${TEST_SRCDIR}/capif_fed"
RUNNER="$ROOT/tools/capif-scenario/capif-scenario"
failed=0
for f in "$ROOT"/interop-tests/scenarios/*.json; do
  name="$(basename "$f" .json)"
  echo "=== $name"
  if ! "$RUNNER" run "$f" --out "$TEST_TMPDIR/$name" --bin-dir "$ROOT"; then
    echo "FAILED: $name (report: $TEST_TMPDIR/$name/report.md)"
    cat "$TEST_TMPDIR/$name"/ccf-*/ccfd.log 2>/dev/null | grep -v ' INFO ' | tail -20 || true
    failed=1
  fi
done
report="$TEST_TMPDIR/two-domains-capif6e/report.md"
for needle in '@startuml' '[CAPIF-6e] REQUEST_SECURITY_METHOD' '[CAPIF-6e] NOTIFY_OFFBOARDING' \
              '[CAPIF-3] POST revoke-authorization' '[CAPIF-2e] TLS-PSK' '[CAPIF-1e] POST onboardedInvokers'; do
  if ! grep -qF -- "$needle" "$report"; then
    echo "FAILED: $report lacks '$needle'"
    failed=1
  fi
done
# expect_run NAME CODE TEXT: running $TEST_TMPDIR/NAME.json exits CODE and prints TEXT.
expect_run() {
  local out code
  set +e
  out="$("$RUNNER" run "$TEST_TMPDIR/$1.json" --out "$TEST_TMPDIR/$1" --bin-dir "$ROOT" 2>&1)"
  code=$?
  set -e
  if [ "$code" -ne "$2" ] || ! grep -qF -- "$3" <<<"$out"; then
    echo "FAILED: scenario $1 should exit $2 printing '$3', got $code: $out"
    failed=1
  fi
}
# A broken scenario file is refused with the field named, exit 2.
echo '{"name": "x", "ccfs": [{"id": "ccf a", "trust_domain": "a.example"}], "steps": []}' \
  > "$TEST_TMPDIR/bad.json"
expect_run bad 2 'ccfs[0].id'
# Several replicas share a PostgreSQL database; on SQLite that is refused before anything starts.
echo '{"name": "x", "ccfs": [{"id": "ccf-a", "trust_domain": "a.example", "replicas": 2}], "steps": []}' \
  > "$TEST_TMPDIR/replicas-on-sqlite.json"
expect_run replicas-on-sqlite 2 'ccfs[0].replicas: more than one needs "storage": "postgres"'
# A step that does not meet its expectation makes the run fail (exit 1).
cat > "$TEST_TMPDIR/unmet.json" <<'JSON'
{"name": "unmet", "ccfs": [{"id": "ccf-a", "trust_domain": "operator-a.example"}],
 "invokers": [{"name": "zoe", "ccf": "ccf-a"}],
 "steps": [{"onboard": "zoe"}, {"discover": "zoe", "expect_apis": 5}]}
JSON
expect_run unmet 1 'FAIL'
exit "$failed"

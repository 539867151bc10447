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
# A broken scenario file is refused with the field named, exit 2.
echo '{"name": "x", "ccfs": [{"id": "ccf a", "trust_domain": "a.example"}], "steps": []}' \
  > "$TEST_TMPDIR/bad.json"
set +e
out="$("$RUNNER" run "$TEST_TMPDIR/bad.json" --out "$TEST_TMPDIR/bad" --bin-dir "$ROOT" 2>&1)"
code=$?
set -e
if [ "$code" -ne 2 ] || ! grep -qF 'ccfs[0].id' <<<"$out"; then
  echo "FAILED: a bad scenario should exit 2 naming ccfs[0].id, got $code: $out"
  failed=1
fi
# A step that does not meet its expectation makes the run fail (exit 1).
cat > "$TEST_TMPDIR/unmet.json" <<'JSON'
{"name": "unmet", "ccfs": [{"id": "ccf-a", "trust_domain": "operator-a.example"}],
 "invokers": [{"name": "zoe", "ccf": "ccf-a"}],
 "steps": [{"onboard": "zoe"}, {"discover": "zoe", "expect_apis": 5}]}
JSON
set +e
out="$("$RUNNER" run "$TEST_TMPDIR/unmet.json" --out "$TEST_TMPDIR/unmet" --bin-dir "$ROOT" 2>&1)"
code=$?
set -e
if [ "$code" -ne 1 ] || ! grep -q 'FAIL' <<<"$out"; then
  echo "FAILED: an unmet expectation should exit 1 with a FAIL row, got $code: $out"
  failed=1
fi
exit "$failed"

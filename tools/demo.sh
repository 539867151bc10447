#!/usr/bin/env bash
# The two-domain demo behind `tools/dev demo` (run that instead: it installs and builds first).
#
# Runs interop-tests/scenarios/two-domains-capif6e.json with capif-scenario: two operators, each
# with its own trust domain and CCF (ccfd), peered over mutually authenticated CAPIF-6e; operator
# A's three sample AEFs (one per CAPIF-2e security method); an invoker onboarded at operator B who
# uses all three, then offboards, after which A and its AEFs refuse her. Everything runs on
# 127.0.0.1 with ports picked free; nothing is left running afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bazel-bin"
SCENARIO="$ROOT/interop-tests/scenarios/two-domains-capif6e.json"
DIR="${CAPIF_DEMO_DIR:-$(mktemp -d -t capif-demo.XXXXXX)}"
OUT="$DIR/two-domains"
rm -rf "$OUT"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Running the two-domain scenario ($SCENARIO)"
set +e
"$BIN/tools/capif-scenario/capif-scenario" run "$SCENARIO" --out "$OUT" --bin-dir "$BIN"
rc=$?
set -e

say "What happened"
cat <<TEXT
   1. Each operator made its own trust domain (a root CA) with capif-pki and a certificate for
      its CCF; the CCFs (ccf-a, ccf-b) started and fetched each other's trust bundle over
      mutually authenticated gRPC (CAPIF-6e). Neither accepts anyone but the configured peer.
   2. Operator A registered three AEFs and published the same location API on each, one per
      security method (TLS-PSK, TLS with certificates, OAuth), marked shareable with B.
   3. Alice onboarded at B with a one-time enrollment token (CAPIF-1e) and, through B's standard
      Discover API, found A's three AEFs (labelled ccfId = ccf-a): B asked A over the bus.
   4. She asked B for security methods; B asked A, which chose per AEF and remembered that B's
      invoker may use them. For PSK, B derived the AEFPSK from Alice's own TLS session.
   5. She called each AEF: openssl s_client with the AEFPSK (TLS 1.3 and 1.2) - the AEF got the
      same key from A, which got it from B; openssl s_client with her certificate - the AEF
      checked it against the root CA A got from B; and HTTPS with an access token that A issued
      after B forwarded her request without her secret but with her signed assertion. Then
      100 more tokens, four at a time, each with its own assertion (a small load: the
      throughput benchmark is tools/dev bench).
   6. She offboarded at B. B told A (durable outbox, retried until acknowledged); A dropped its
      grants and told its AEFs (AEF Security API revoke-authorization). Her PSK handshake, her
      certificate and her still-unexpired token were all refused.
TEXT

say "Where to look"
echo "   report:            $OUT/report.md (topology, steps with latencies, sequence diagram)"
if [ -f "$OUT/sequence.svg" ]; then
  echo "   sequence diagram:  $OUT/sequence.svg"
else
  echo "   sequence diagram:  $OUT/sequence.puml (PlantUML; 'apt-get install plantuml' renders it to SVG)"
fi
echo "   logs:              $OUT/ccf-a/ccfd.log, $OUT/ccf-a/audit.log (one JSON line per bus decision), $OUT/aef-*/aef.log"

say "Other scenarios"
for f in "$ROOT"/interop-tests/scenarios/*.json; do
  echo "   bazel-bin/tools/capif-scenario/capif-scenario run ${f#$ROOT/}"
done
echo "   (format and steps: docs/scenarios.md)"

if [ "$rc" -ne 0 ]; then
  echo
  echo "The scenario FAILED (exit $rc): see the table above and $OUT/report.md"
fi
exit "$rc"

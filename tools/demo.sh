#!/usr/bin/env bash
# The two-domain demo behind `tools/dev demo` (run that instead: it installs and builds first).
#
# Operator A and operator B each run a CCF in their own trust domain. The demo makes both
# domains' PKI with capif-pki, starts both ccfd on 127.0.0.1 with the example configurations
# (ccf/examples/), has each CCF greet its peer over mutually authenticated CAPIF-6e with
# capifctl, shows an impostor being refused, and stops both CCFs cleanly.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bazel-bin"
PKI="$BIN/tools/capif-pki/capif-pki"
CCFD="$BIN/ccf/ccfd"
CTL="$BIN/tools/capifctl/capifctl"
PORT_A="${CAPIF_DEMO_PORT_A:-7401}"
PORT_B="${CAPIF_DEMO_PORT_B:-7402}"
DIR="${CAPIF_DEMO_DIR:-$(mktemp -d -t capif-demo.XXXXXX)}"
mkdir -p "$DIR"
cd "$DIR"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say "1. Each operator creates its trust domain and a certificate for its CCF (capif-pki)"
rm -rf pki
for d in a b; do
  "$PKI" init-domain --trust-domain "operator-$d.example" --out "pki/operator-$d-ca" >/dev/null
  "$PKI" issue --ca "pki/operator-$d-ca" --spiffe-id "spiffe://operator-$d.example/ccf/ccf-$d" \
    --ip 127.0.0.1 --dns localhost --out "pki/ccf-$d" >/dev/null
  echo "   operator-$d.example: root CA pki/operator-$d-ca/ca.pem," \
       "CCF certificate for spiffe://operator-$d.example/ccf/ccf-$d"
done
echo "   (the operators exchange their root CAs out of band: each CCF's config names the other's)"

for d in a b; do
  sed -e "s/127.0.0.1:7401/127.0.0.1:$PORT_A/; s/127.0.0.1:7402/127.0.0.1:$PORT_B/" \
    "$ROOT/ccf/examples/ccf-$d.json" > "ccf-$d.json"
done

say "2. Both CCFs start, each serving CAPIF-6e over mutual TLS"
for d in a b; do
  "$CCFD" --config "ccf-$d.json" > "ccf-$d.out" 2> "ccf-$d.log" &
  PIDS+=($!)
done
for d in a b; do
  for _ in $(seq 1 300); do
    grep -q "listening on" "ccf-$d.out" 2>/dev/null && break
    if ! kill -0 "${PIDS[$([ $d = a ] && echo 0 || echo 1)]}" 2>/dev/null; then
      echo "ccfd $d failed to start:"; cat "ccf-$d.log"; exit 1
    fi
    sleep 0.1
  done
  grep -q "listening on" "ccf-$d.out" || { echo "ccfd $d did not start in 30 s"; exit 1; }
  echo "   $(cat "ccf-$d.out")"
done

say "3. CCF-A greets its peer (capifctl peers --config ccf-a.json)"
"$CTL" peers --config ccf-a.json
say "4. CCF-B greets its peer (capifctl peers --config ccf-b.json)"
"$CTL" peers --config ccf-b.json

say "5. An impostor: a valid certificate of operator B's domain, but not a configured peer"
"$PKI" issue --ca pki/operator-b-ca --spiffe-id spiffe://operator-b.example/ccf/ccf-mallory \
  --ip 127.0.0.1 --out pki/ccf-mallory >/dev/null
sed -e 's/"ccf-b"/"ccf-mallory"/; s#pki/ccf-b/#pki/ccf-mallory/#g' ccf-b.json > ccf-mallory.json
if "$CTL" peers --config ccf-mallory.json; then
  echo "   UNEXPECTED: the impostor was accepted"; exit 1
fi
sleep 0.2
echo "   CCF-A's log says:"
grep "refused" ccf-a.log | sed 's/^/   /'

say "6. Both CCFs stop cleanly on SIGTERM"
for i in 0 1; do
  kill -TERM "${PIDS[$i]}"
  rc=0; wait "${PIDS[$i]}" || rc=$?
  echo "   ccfd $([ $i = 0 ] && echo ccf-a || echo ccf-b) exited with code $rc"
  [ $rc -eq 0 ] || exit 1
done
PIDS=()

say "What happened"
cat <<TXT
   Two CCFs in different trust domains (operator-a.example, operator-b.example) authenticated
   each other with certificates whose single URI SAN is their SPIFFE id, each chain checked
   against the peer domain's own root CA only, and exchanged Hello over CAPIF-6e. A certificate
   from operator B's real CA that names an unconfigured CCF was refused at the handshake.
   Files, logs and configurations are in $DIR
   Next: 'tools/dev test' runs the three-domain interop tests.
TXT

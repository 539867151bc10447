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
NB_PORT_A="${CAPIF_DEMO_NB_PORT_A:-8441}"
NB_PORT_B="${CAPIF_DEMO_NB_PORT_B:-8442}"
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
rm -rf pki data
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
      -e "s/127.0.0.1:8441/127.0.0.1:$NB_PORT_A/; s/127.0.0.1:8442/127.0.0.1:$NB_PORT_B/" \
    "$ROOT/ccf/examples/ccf-$d.json" > "ccf-$d.json"
done

say "2. Both CCFs start, each serving CAPIF-6e over mutual TLS"
for d in a b; do
  "$CCFD" --config "ccf-$d.json" > "ccf-$d.out" 2> "ccf-$d.log" &
  PIDS+=($!)
done
for d in a b; do
  for _ in $(seq 1 300); do
    grep -q "northbound on" "ccf-$d.out" 2>/dev/null && break
    if ! kill -0 "${PIDS[$([ $d = a ] && echo 0 || echo 1)]}" 2>/dev/null; then
      echo "ccfd $d failed to start:"; cat "ccf-$d.log"; exit 1
    fi
    sleep 0.1
  done
  grep -q "northbound on" "ccf-$d.out" || { echo "ccfd $d did not start in 30 s"; exit 1; }
  sed 's/^/   /' "ccf-$d.out"
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

say "6. A standard API invoker onboards at CCF-A with plain curl and openssl (TS 29.222)"
NB_A="https://127.0.0.1:$NB_PORT_A"
TOKEN=$("$CTL" enroll-invoker --config ccf-a.json)
echo "   operator: capifctl enroll-invoker -> one-time token ${TOKEN:0:8}..."
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout invoker.key \
  -subj "/CN=demo-invoker" -out invoker.csr 2>/dev/null
CSR=$(awk 'BEGIN{ORS="\\n"} {print}' invoker.csr)
curl -sS --cacert pki/operator-a-ca/ca.pem -o onboarded.json -w "%{http_code}" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d "{\"onboardingInformation\":{\"apiInvokerPublicKey\":\"$CSR\"},\"notificationDestination\":\"https://invoker.example/cb\"}" \
  "$NB_A/api-invoker-management/v1/onboardedInvokers" > onboard.status
echo "   POST /api-invoker-management/v1/onboardedInvokers -> HTTP $(cat onboard.status)"
INVOKER_ID=$(python3 -c 'import json; print(json.load(open("onboarded.json"))["apiInvokerId"])')
python3 -c 'import json; print(json.load(open("onboarded.json"))["onboardingInformation"]["apiInvokerCertificate"], end="")' > invoker.crt
echo "   apiInvokerId $INVOKER_ID; certificate for spiffe://operator-a.example/invoker/$INVOKER_ID"
STATUS=$(curl -sS --cacert pki/operator-a-ca/ca.pem --cert invoker.crt --key invoker.key -o discovered.json \
  -w "%{http_code}" "$NB_A/service-apis/v1/allServiceAPIs?api-invoker-id=$INVOKER_ID")
echo "   GET /service-apis/v1/allServiceAPIs over mutual TLS -> HTTP $STATUS $(cat discovered.json)"
STATUS=$(curl -sS --cacert pki/operator-a-ca/ca.pem -o refused.json -w "%{http_code}" \
  "$NB_A/service-apis/v1/allServiceAPIs?api-invoker-id=$INVOKER_ID")
echo "   the same without the certificate -> HTTP $STATUS $(cat refused.json)"
STATUS=$(curl -sS --cacert pki/operator-a-ca/ca.pem --cert invoker.crt --key invoker.key -X DELETE \
  -o /dev/null -w "%{http_code}" "$NB_A/api-invoker-management/v1/onboardedInvokers/$INVOKER_ID")
echo "   DELETE (offboarding) -> HTTP $STATUS"

say "7. Both CCFs stop cleanly on SIGTERM"
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
   An invoker onboarded at CCF-A with nothing but curl and openssl, got its certificate,
   called the Discover API over mutual TLS, and offboarded; without a certificate it got a
   TS 29.222 ProblemDetails.
   Files, logs and configurations are in $DIR
   Next: 'tools/dev test' runs the three-domain interop tests.
TXT

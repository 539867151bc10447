#include "tools/capif-scenario/seed.h"

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/sql_stores.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "common/key_encryption_key.h"
#include "common/status_macros.h"

namespace capif {

namespace {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();
  }
  return out;
}

}  // namespace

absl::Status SeedCcfState(const std::string& data_dir, const SeedSpec& spec) {
  if (spec.invokers < 0 || spec.invokers > 10000000 || spec.security_contexts < 0 ||
      spec.security_contexts > spec.invokers) {
    return absl::InvalidArgumentError(
        "seed: invokers 0-10000000, security_contexts 0 to the number of invokers");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<SqlDatabase> db, OpenCcfDatabase(data_dir));
  // Bulk load: no fsync per row (this is benchmark state, rebuilt at will).
  RETURN_IF_ERROR(db->Execute("PRAGMA synchronous=OFF"));
  ASSIGN_OR_RETURN(KeyEncryptionKey kek, KeyEncryptionKey::LoadOrCreate(data_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<SqlSecurityContexts> contexts,
                   SqlSecurityContexts::Create(db, std::move(kek)));
  SqlInvokerStore invokers(db);

  // A real certificate of realistic size as every seeded invoker's placeholder.
  ASSIGN_OR_RETURN(CertificateAuthority ca, CertificateAuthority::CreateRoot(
                                                TrustDomain("seed.example"), Clock::Real(),
                                                absl::Hours(24)));
  ASSIGN_OR_RETURN(std::string certificate, ca.certificate().ToPem());
  const absl::Time now = absl::Now();
  for (int i = 0; i < spec.invokers; ++i) {
    std::string id = absl::StrFormat("inv-seed-%07d", i);
    InvokerRecord r;
    r.id = ApiInvokerId(id);
    r.public_key_pem = certificate;  // as long as a CSR or key; never parsed again
    r.certificate_pem = certificate;
    r.notification_destination = absl::StrCat("https://seed.example/", id);
    r.secret_salt = RandomBytes(16);
    r.secret_digest = RandomBytes(32);
    r.created = now;
    RETURN_IF_ERROR(invokers.Insert(r));
    if (i >= spec.security_contexts) continue;
    StoredSecurityContext ctx;
    ctx.api_invoker_id = id;
    ctx.notification_destination = r.notification_destination;
    ctx.created = now;
    SecurityEntry e;
    e.aef_id = absl::StrFormat("aef-seed-%07d", i);
    e.api_id = absl::StrCat("api-", e.aef_id);
    e.pref_methods = {"PSK"};
    e.selected_method = "PSK";
    e.api_ids = {*e.api_id};
    e.aef_psk = SecretBytes(RandomBytes(32));
    e.psk_expires = now + absl::Hours(24);
    e.authorized_at = now;
    ctx.entries.push_back(std::move(e));
    RETURN_IF_ERROR(contexts->Write(ctx, 0, {}).status());
  }
  return db->Execute("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace capif

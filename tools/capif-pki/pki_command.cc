#include "tools/capif-pki/pki_command.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/certificate_authority.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace capif {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage:\n"
    "  capif-pki init-domain --trust-domain TD --out DIR [--validity-days N]\n"
    "  capif-pki issue --ca DIR --spiffe-id spiffe://TD/KIND/ID [--dns NAME]... [--ip ADDR]...\n"
    "                  [--validity-days N] --out DIR\n";

struct Flags {
  std::map<std::string, std::vector<std::string>> values;

  const std::string* One(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second.back();
  }
  std::vector<std::string> All(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

// Parses "--name value" pairs. `allowed` maps a flag to whether it may repeat.
absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args, size_t start,
                                 const std::map<std::string, bool>& allowed) {
  Flags flags;
  for (size_t i = start; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "'"));
    }
    std::string name = a.substr(2);
    auto it = allowed.find(name);
    if (it == allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", a, "'"));
    }
    if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(absl::StrCat("flag '", a, "' needs a value"));
    }
    if (!it->second && flags.values.count(name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("flag '", a, "' given twice"));
    }
    flags.values[name].push_back(args[++i]);
  }
  return flags;
}

absl::StatusOr<const std::string*> Required(const Flags& flags, const std::string& name) {
  const std::string* v = flags.One(name);
  if (v == nullptr || v->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  }
  return v;
}

absl::StatusOr<absl::Duration> Validity(const Flags& flags, int default_days) {
  const std::string* v = flags.One("validity-days");
  if (v == nullptr) return absl::Hours(24 * default_days);
  int days = 0;
  if (!absl::SimpleAtoi(*v, &days) || days <= 0 || days > 36500) {
    return absl::InvalidArgumentError("--validity-days must be a whole number from 1 to 36500");
  }
  return absl::Hours(24 * days);
}

// A file to write: path, content, permission.
struct OutputFile {
  std::string path;
  std::string content;
  int mode;
};

// Checks that nothing would be overwritten (a usage error), creates `dir`, then writes all files;
// on an I/O failure removes what it wrote.
int WriteOutputs(const std::string& dir, const std::vector<OutputFile>& files,
                 std::ostream& out, std::ostream& err) {
  for (const OutputFile& f : files) {
    if (::access(f.path.c_str(), F_OK) == 0) {
      err << "capif-pki: '" << f.path << "' already exists; refusing to overwrite it\n";
      return kExitUsage;
    }
  }
  bool created_dir = ::access(dir.c_str(), F_OK) != 0;
  absl::Status mkdir = MakeDirectories(dir);
  if (!mkdir.ok()) {
    err << "capif-pki: " << mkdir.message() << "\n";
    return kExitFailure;
  }
  std::vector<std::string> written;
  for (const OutputFile& f : files) {
    absl::Status s = WriteFileAtomic(f.path, f.content, f.mode);
    if (!s.ok()) {
      err << "capif-pki: " << s.message() << "\n";
      for (const std::string& p : written) ::unlink(p.c_str());
      if (created_dir) ::rmdir(dir.c_str());
      return kExitFailure;
    }
    written.push_back(f.path);
  }
  for (const OutputFile& f : files) out << "wrote " << f.path << "\n";
  return kExitOk;
}

int InitDomain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const Clock& clock) {
  auto flags = ParseFlags(args, 1, {{"trust-domain", false}, {"out", false},
                                    {"validity-days", false}});
  if (!flags.ok()) {
    err << "capif-pki init-domain: " << flags.status().message() << "\n" << kUsage;
    return kExitUsage;
  }
  auto td = Required(*flags, "trust-domain");
  auto dir = Required(*flags, "out");
  auto validity = Validity(*flags, 3650);
  for (const absl::Status& s : {td.status(), dir.status(), validity.status()}) {
    if (!s.ok()) {
      err << "capif-pki init-domain: " << s.message() << "\n" << kUsage;
      return kExitUsage;
    }
  }
  auto ca = CertificateAuthority::CreateRoot(TrustDomain(**td), clock, *validity);
  if (!ca.ok()) {
    err << "capif-pki init-domain: " << ca.status().message() << "\n";
    return ca.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  auto cert_pem = ca->certificate().ToPem();
  auto key_pem = ca->key().PrivateKeyPem();
  if (!cert_pem.ok() || !key_pem.ok()) {
    err << "capif-pki init-domain: encoding failed\n";
    return kExitFailure;
  }
  std::string key_text(key_pem->Reveal(InsecureSecretAccess()));
  int rc = WriteOutputs(**dir,
                        {{**dir + "/ca.pem", *cert_pem, 0644}, {**dir + "/ca.key", key_text, 0600}},
                        out, err);
  std::fill(key_text.begin(), key_text.end(), '\0');
  return rc;
}

int Issue(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
          const Clock& clock) {
  auto flags = ParseFlags(args, 1, {{"ca", false}, {"spiffe-id", false}, {"dns", true},
                                    {"ip", true}, {"validity-days", false}, {"out", false}});
  if (!flags.ok()) {
    err << "capif-pki issue: " << flags.status().message() << "\n" << kUsage;
    return kExitUsage;
  }
  auto ca_dir = Required(*flags, "ca");
  auto id_text = Required(*flags, "spiffe-id");
  auto dir = Required(*flags, "out");
  auto validity = Validity(*flags, 365);
  for (const absl::Status& s : {ca_dir.status(), id_text.status(), dir.status(),
                                validity.status()}) {
    if (!s.ok()) {
      err << "capif-pki issue: " << s.message() << "\n" << kUsage;
      return kExitUsage;
    }
  }
  auto id = SpiffeId::Parse(**id_text);
  if (!id.ok()) {
    err << "capif-pki issue: --spiffe-id: " << id.status().message() << "\n";
    return kExitUsage;
  }
  auto ca_cert_pem = ReadFile(**ca_dir + "/ca.pem");
  auto ca_key_pem = ReadFile(**ca_dir + "/ca.key");
  if (!ca_cert_pem.ok() || !ca_key_pem.ok()) {
    err << "capif-pki issue: --ca: "
        << (!ca_cert_pem.ok() ? ca_cert_pem.status() : ca_key_pem.status()).message()
        << " (expected a directory made by 'capif-pki init-domain')\n";
    return kExitUsage;
  }
  auto ca_cert = X509Cert::FromPem(*ca_cert_pem);
  SecretBytes ca_key_secret(*ca_key_pem);
  std::fill(ca_key_pem->begin(), ca_key_pem->end(), '\0');
  auto ca_key = EvpKey::FromPrivateKeyPem(ca_key_secret);
  if (!ca_cert.ok() || !ca_key.ok()) {
    err << "capif-pki issue: --ca: "
        << (!ca_cert.ok() ? ca_cert.status() : ca_key.status()).message() << "\n";
    return kExitUsage;
  }
  auto ca = CertificateAuthority::FromCertAndKey(*std::move(ca_cert), *std::move(ca_key));
  if (!ca.ok()) {
    err << "capif-pki issue: --ca: " << ca.status().message() << "\n";
    return kExitUsage;
  }
  auto key = EvpKey::GenerateEcP256();
  if (!key.ok()) {
    err << "capif-pki issue: " << key.status().message() << "\n";
    return kExitFailure;
  }
  LeafRequest req{*id, &*key, flags->All("dns"), flags->All("ip"), *validity};
  auto leaf = ca->Issue(req, clock);
  if (!leaf.ok()) {
    err << "capif-pki issue: " << leaf.status().message() << "\n";
    return leaf.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  auto leaf_pem = leaf->ToPem();
  auto key_pem = key->PrivateKeyPem();
  if (!leaf_pem.ok() || !key_pem.ok()) {
    err << "capif-pki issue: encoding failed\n";
    return kExitFailure;
  }
  std::string key_text(key_pem->Reveal(InsecureSecretAccess()));
  int rc = WriteOutputs(**dir,
                        {{**dir + "/cert.pem", *leaf_pem, 0644},
                         {**dir + "/key.pem", key_text, 0600},
                         {**dir + "/ca.pem", *ca_cert_pem, 0644}},
                        out, err);
  std::fill(key_text.begin(), key_text.end(), '\0');
  return rc;
}

}  // namespace

int RunPkiCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const Clock& clock) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "init-domain") return InitDomain(args, out, err, clock);
  if (args[0] == "issue") return Issue(args, out, err, clock);
  err << "capif-pki: unknown command '" << args[0] << "'\n" << kUsage;
  return kExitUsage;
}

}  // namespace capif

#include "ccf/api/provider_management_api.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ccf/api/certification.h"
#include "ccf/api/invoker_management_api.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

using nlohmann::json;

// Validates the members of an APIProviderEnrolmentDetails the CCF accepts from an AMF, into a
// domain (without ids or certificates the CCF assigns; a function's id as sent, if any).
absl::StatusOr<ProviderDomain> ValidateEnrolment(const json& body) {
  ProviderDomain d;
  auto reg_sec = body.find("regSec");
  if (reg_sec == body.end()) return InvalidParamError("regSec", "is required");
  if (!reg_sec->is_string() || reg_sec->get_ref<const std::string&>().empty()) {
    return InvalidParamError("regSec", "must be a non-empty string");
  }
  RETURN_IF_ERROR(OptionalMember(body, "apiProvDomInfo", "", &d.info));
  RETURN_IF_ERROR(OptionalMember(body, "suppFeat", "", &d.supported_features));
  if (d.supported_features) {
    for (char c : *d.supported_features) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
        return InvalidParamError("suppFeat", "must be a hexadecimal string");
      }
    }
  }
  auto funcs = body.find("apiProvFuncs");
  if (funcs == body.end()) return InvalidParamError("apiProvFuncs", "is required");
  if (!funcs->is_array() || funcs->empty()) {
    return InvalidParamError("apiProvFuncs", "must be a non-empty array");
  }
  if (funcs->size() > 100) return InvalidParamError("apiProvFuncs", "at most 100 functions");
  bool has_amf = false;
  for (size_t i = 0; i < funcs->size(); ++i) {
    const json& f = (*funcs)[i];
    std::string at = absl::StrCat("apiProvFuncs[", i, "]");
    if (!f.is_object()) return InvalidParamError(at, "must be an object");
    ProviderFunction fr;
    ASSIGN_OR_RETURN(const json* role,
                     RequiredMember(f, "apiProvFuncRole", at + ".", JsonType::kString));
    std::optional<ProviderRole> parsed_role = ProviderRoleOfName(role->get<std::string>());
    if (!parsed_role) return InvalidParamError(at + ".apiProvFuncRole", "must be AEF, APF or AMF");
    fr.role = *parsed_role;
    has_amf = has_amf || fr.role == ProviderRole::kAmf;
    ASSIGN_OR_RETURN(const json* reg, RequiredMember(f, "regInfo", at + ".", JsonType::kObject));
    ASSIGN_OR_RETURN(const json* key, RequiredMember(*reg, "apiProvPubKey", at + ".regInfo.",
                                                     JsonType::kString, /*non_empty=*/true));
    fr.public_key_pem = key->get<std::string>();
    auto parsed = PublicKeyFromCsrOrKeyPem(fr.public_key_pem);
    if (!parsed.ok()) return InvalidParamError(at + ".regInfo.apiProvPubKey", parsed.status().message());
    if (absl::Status usable = parsed->CheckCertifiable(); !usable.ok()) {
      return InvalidParamError(at + ".regInfo.apiProvPubKey", usable.message());
    }
    auto id = f.find("apiProvFuncId");
    if (id != f.end()) {
      if (!id->is_string() || !IsValidIdSegment(id->get<std::string>())) {
        return InvalidParamError(at + ".apiProvFuncId", "must be a valid id");
      }
      fr.id = id->get<std::string>();
    }
    RETURN_IF_ERROR(OptionalMember(f, "apiProvFuncInfo", at + ".", &fr.info));
    d.functions.push_back(std::move(fr));
  }
  if (!has_amf) {
    return InvalidParamError("apiProvFuncs", "must include an AMF (it manages the registration)");
  }
  return d;
}

SpiffeId::Kind KindOfRole(ProviderRole role) {
  switch (role) {
    case ProviderRole::kAef:
      return SpiffeId::Kind::kAef;
    case ProviderRole::kApf:
      return SpiffeId::Kind::kApf;
    case ProviderRole::kAmf:
      break;
  }
  return SpiffeId::Kind::kAmf;
}

// The APIProviderEnrolmentDetails answered for a domain. The schema requires regSec, but it is a
// spent one-time token: it is echoed from the request it answers and never stored.
json EnrolmentJson(const ProviderDomain& d, const json& reg_sec) {
  json funcs = json::array();
  for (const ProviderFunction& f : d.functions) {
    json fj = {{"apiProvFuncId", f.id},
               {"apiProvFuncRole", std::string(ProviderRoleName(f.role))},
               {"regInfo", {{"apiProvPubKey", f.public_key_pem}, {"apiProvCert", f.certificate_pem}}}};
    if (f.info) fj["apiProvFuncInfo"] = *f.info;
    funcs.push_back(std::move(fj));
  }
  json out = {{"apiProvDomId", d.id}, {"regSec", reg_sec}, {"apiProvFuncs", std::move(funcs)}};
  if (d.info) out["apiProvDomInfo"] = *d.info;
  if (d.supported_features) out["suppFeat"] = *d.supported_features;
  return out;
}

std::string RegistrationLocation(const std::string& api_root, const std::string& id) {
  return absl::StrCat(api_root, kProviderManagementRoot, "/registrations/", id);
}

}  // namespace

absl::StatusOr<ProviderFunction> FindProviderFunction(ProviderRegistry& registry,
                                                      const std::string& id, ProviderRole role) {
  ASSIGN_OR_RETURN(std::optional<ProviderFunction> f, registry.GetFunction(id));
  if (!f) return absl::NotFoundError("no such API provider function");
  if (f->role != role) return absl::NotFoundError("no such API provider function with that role");
  return *std::move(f);
}

void ProviderManagementApi::RegisterRoutes(RestRouter& server) {
  const std::string base = std::string(kProviderManagementRoot) + "/registrations";
  server.Route("POST", base, [this](const RestRequest& r) { return Register(r); });
  server.Route("PUT", base + "/([^/]+)", [this](const RestRequest& r) { return Update(r); });
  server.Route("DELETE", base + "/([^/]+)", [this](const RestRequest& r) { return Deregister(r); });
  server.Route("PATCH", base + "/([^/]+)", [this](const RestRequest& r) { return Patch(r); });
}

absl::StatusOr<RestResponse> ProviderManagementApi::Register(const RestRequest& req) {
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  if (body.contains("apiProvDomId")) {
    return InvalidParamError("apiProvDomId", "is assigned by the CCF and must not be sent");
  }
  ASSIGN_OR_RETURN(ProviderDomain domain, ValidateEnrolment(body));
  for (size_t i = 0; i < domain.functions.size(); ++i) {
    if (!domain.functions[i].id.empty()) {
      return InvalidParamError(absl::StrCat("apiProvFuncs[", i, "].apiProvFuncId"),
                               "is assigned by the CCF and must not be sent");
    }
  }
  absl::Status token = config_.enrollment_tokens->Consume(
      EnrollmentTokenDigest(body["regSec"].get<std::string>()), EnrollmentPurpose::kProvider,
      config_.clock->Now());
  if (!token.ok()) {
    LogWarning("security", absl::StrCat("provider registration refused: ", token.message()));
    return RestError(401, "regSec is unknown, used or expired", "UNAUTHENTICATED");
  }
  domain.id = NewResourceId("dom");
  for (ProviderFunction& f : domain.functions) {
    f.id = NewResourceId(absl::AsciiStrToLower(ProviderRoleName(f.role)));
    f.domain_id = domain.id;
    ASSIGN_OR_RETURN(f.certificate_pem,
                     CertifyPublicKey(*config_.ca, KindOfRole(f.role), f.id, f.public_key_pem,
                                      "regInfo.apiProvPubKey", *config_.clock,
                                      config_.certificate_validity));
  }
  RETURN_IF_ERROR(config_.providers->Insert(domain));
  LogInfo("providers", absl::StrCat("registered API provider domain ", domain.id, " with ",
                                    domain.functions.size(), " functions"));
  RestResponse res = RestResponse::Json(201, EnrolmentJson(domain, body["regSec"]));
  res.headers.emplace_back("Location", RegistrationLocation(config_.api_root, domain.id));
  return res;
}

namespace {

// The caller must be a registered AMF of the domain in the path.
absl::StatusOr<std::string> RequireAmfOf(const RestRequest& req, ProviderRegistry& registry,
                                         const CertificateAuthority& ca) {
  if (req.path_params.empty()) return RestError(404, "no registration in the path");
  std::string dom_id = req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of an AMF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAmf ||
      req.caller->trust_domain() != ca.trust_domain()) {
    return RestError(403, "only an AMF may manage a registration", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(std::optional<ProviderFunction> amf, registry.GetFunction(req.caller->id()));
  if (!amf || amf->role != ProviderRole::kAmf || amf->domain_id != dom_id) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to manage registration ",
                                        absl::CEscape(dom_id.substr(0, 64))));
    return RestError(403, "the caller is not an AMF of this registration", "OPERATION_NOT_ALLOWED");
  }
  return dom_id;
}

}  // namespace

absl::StatusOr<RestResponse> ProviderManagementApi::Update(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string dom_id, RequireAmfOf(req, *config_.providers, *config_.ca));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  return Replace(dom_id, body, body.value("regSec", json()));
}

absl::StatusOr<RestResponse> ProviderManagementApi::Patch(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string dom_id, RequireAmfOf(req, *config_.providers, *config_.ca));
  ASSIGN_OR_RETURN(json patch, ParseMergePatchBody(req, {"apiProvFuncs", "apiProvDomInfo"}));
  ASSIGN_OR_RETURN(std::optional<ProviderDomain> existing, config_.providers->Get(dom_id));
  if (!existing) return RestError(404, "no such registration", "RESOURCE_NOT_FOUND");
  // The resource as it stands; regSec is a spent token, never kept (answered as "").
  json merged = EnrolmentJson(*existing, "spent");
  if (auto info = patch.find("apiProvDomInfo"); info != patch.end()) {
    if (info->is_null()) {
      merged.erase("apiProvDomInfo");
    } else {
      merged["apiProvDomInfo"] = *info;
    }
  }
  // apiProvFuncs lists the functions to register or update (the Patch schema's wording): one
  // with an apiProvFuncId is merged into that function, one without is new; the functions it
  // does not list stay registered (a PUT of the whole registration removes functions).
  if (auto funcs = patch.find("apiProvFuncs"); funcs != patch.end()) {
    if (!funcs->is_array() || funcs->empty()) {
      return InvalidParamError("apiProvFuncs", "must be a non-empty array");
    }
    if (funcs->size() > 100) return InvalidParamError("apiProvFuncs", "at most 100 functions");
    json& current = merged["apiProvFuncs"];
    for (size_t i = 0; i < funcs->size(); ++i) {
      const json& f = (*funcs)[i];
      std::string at = absl::StrCat("apiProvFuncs[", i, "]");
      if (!f.is_object()) return InvalidParamError(at, "must be an object");
      auto id = f.find("apiProvFuncId");
      if (id == f.end()) {
        current.push_back(f);
        continue;
      }
      auto same = std::find_if(current.begin(), current.end(),
                               [&](const json& c) { return c["apiProvFuncId"] == *id; });
      if (same == current.end()) {
        return InvalidParamError(at + ".apiProvFuncId", "is not a function of this registration");
      }
      same->merge_patch(f);
    }
  }
  return Replace(dom_id, merged, "");
}

absl::StatusOr<RestResponse> ProviderManagementApi::Replace(const std::string& dom_id,
                                                            const json& body,
                                                            const json& reg_sec_answer) {
  if (body.contains("apiProvDomId") && body["apiProvDomId"] != dom_id) {
    return InvalidParamError("apiProvDomId", "must equal the registrationId of the resource");
  }
  ASSIGN_OR_RETURN(ProviderDomain domain, ValidateEnrolment(body));
  ASSIGN_OR_RETURN(std::optional<ProviderDomain> existing, config_.providers->Get(dom_id));
  if (!existing) return RestError(404, "no such registration", "RESOURCE_NOT_FOUND");
  std::map<std::string, const ProviderFunction*> current;
  for (const ProviderFunction& f : existing->functions) current[f.id] = &f;
  for (size_t i = 0; i < domain.functions.size(); ++i) {
    const ProviderFunction& f = domain.functions[i];
    if (!f.id.empty() && (current.count(f.id) == 0 || current[f.id]->role != f.role)) {
      return InvalidParamError(absl::StrCat("apiProvFuncs[", i, "].apiProvFuncId"),
                               "is not a function of this registration with that role");
    }
  }
  // Everything is valid: certify new or re-keyed functions, then write the whole domain at once
  // (functions not listed are deregistered with it).
  domain.id = dom_id;
  for (ProviderFunction& f : domain.functions) {
    bool is_new = f.id.empty();
    if (is_new) f.id = NewResourceId(absl::AsciiStrToLower(ProviderRoleName(f.role)));
    f.domain_id = dom_id;
    f.certificate_pem = is_new ? "" : current[f.id]->certificate_pem;
    if (is_new || !CertifiesSameKey(f.certificate_pem, f.public_key_pem)) {
      ASSIGN_OR_RETURN(f.certificate_pem,
                       CertifyPublicKey(*config_.ca, KindOfRole(f.role), f.id, f.public_key_pem,
                                        "regInfo.apiProvPubKey", *config_.clock,
                                        config_.certificate_validity));
    }
  }
  absl::Status s = config_.providers->Replace(domain);
  if (absl::IsNotFound(s)) return RestError(404, "no such registration", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(s);
  return RestResponse::Json(200, EnrolmentJson(domain, reg_sec_answer));
}

absl::StatusOr<RestResponse> ProviderManagementApi::Deregister(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string dom_id, RequireAmfOf(req, *config_.providers, *config_.ca));
  // The domain's functions and the service APIs its APFs published go with it, at once.
  absl::Status s = config_.providers->Delete(dom_id);
  if (absl::IsNotFound(s)) return RestError(404, "no such registration", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(s);
  LogInfo("providers", absl::StrCat("deregistered API provider domain ", dom_id));
  return RestResponse::NoContent();
}

}  // namespace capif

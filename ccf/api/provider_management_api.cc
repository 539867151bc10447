#include "ccf/api/provider_management_api.h"

#include <set>

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

struct FunctionRequest {
  std::string id;  // empty for a new function
  std::string role;
  std::string public_key_pem;
  json stored;
};

absl::StatusOr<SpiffeId::Kind> KindOfRole(const std::string& role) {
  if (role == "AEF") return SpiffeId::Kind::kAef;
  if (role == "APF") return SpiffeId::Kind::kApf;
  if (role == "AMF") return SpiffeId::Kind::kAmf;
  return absl::InvalidArgumentError("unknown role");
}

// Validates the members of an APIProviderEnrolmentDetails the CCF accepts from an AMF.
absl::StatusOr<std::vector<FunctionRequest>> ValidateEnrolment(const json& body, json* stored) {
  *stored = json::object();
  auto reg_sec = body.find("regSec");
  if (reg_sec == body.end()) return InvalidParamError("regSec", "is required");
  if (!reg_sec->is_string() || reg_sec->get_ref<const std::string&>().empty()) {
    return InvalidParamError("regSec", "must be a non-empty string");
  }
  for (const char* name : {"apiProvDomInfo", "suppFeat"}) {
    auto it = body.find(name);
    if (it == body.end()) continue;
    if (!it->is_string()) return InvalidParamError(name, "must be a string");
    (*stored)[name] = *it;
  }
  if (stored->contains("suppFeat")) {
    for (char c : (*stored)["suppFeat"].get<std::string>()) {
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
  std::vector<FunctionRequest> out;
  bool has_amf = false;
  for (size_t i = 0; i < funcs->size(); ++i) {
    const json& f = (*funcs)[i];
    std::string at = absl::StrCat("apiProvFuncs[", i, "]");
    if (!f.is_object()) return InvalidParamError(at, "must be an object");
    FunctionRequest fr;
    fr.stored = json::object();
    auto role = f.find("apiProvFuncRole");
    if (role == f.end() || !role->is_string() || !KindOfRole(role->get<std::string>()).ok()) {
      return InvalidParamError(at + ".apiProvFuncRole", "must be AEF, APF or AMF");
    }
    fr.role = role->get<std::string>();
    has_amf = has_amf || fr.role == "AMF";
    auto reg = f.find("regInfo");
    if (reg == f.end() || !reg->is_object()) {
      return InvalidParamError(at + ".regInfo", "is required (an object)");
    }
    auto key = reg->find("apiProvPubKey");
    if (key == reg->end() || !key->is_string() || key->get_ref<const std::string&>().empty()) {
      return InvalidParamError(at + ".regInfo.apiProvPubKey", "is required (a string)");
    }
    fr.public_key_pem = key->get<std::string>();
    auto parsed = PublicKeyFromCsrOrKeyPem(fr.public_key_pem);
    if (!parsed.ok()) return InvalidParamError(at + ".regInfo.apiProvPubKey", parsed.status().message());
    auto id = f.find("apiProvFuncId");
    if (id != f.end()) {
      if (!id->is_string() || !IsValidIdSegment(id->get<std::string>())) {
        return InvalidParamError(at + ".apiProvFuncId", "must be a valid id");
      }
      fr.id = id->get<std::string>();
    }
    auto info = f.find("apiProvFuncInfo");
    if (info != f.end()) {
      if (!info->is_string()) return InvalidParamError(at + ".apiProvFuncInfo", "must be a string");
      fr.stored["apiProvFuncInfo"] = *info;
    }
    fr.stored["apiProvFuncRole"] = fr.role;
    fr.stored["regInfo"] = {{"apiProvPubKey", fr.public_key_pem}};
    out.push_back(std::move(fr));
  }
  if (!has_amf) {
    return InvalidParamError("apiProvFuncs", "must include an AMF (it manages the registration)");
  }
  return out;
}

// The APIProviderEnrolmentDetails answered: the stored registration, the functions, and the
// regSec of this request. The schema requires regSec, but it is a spent one-time token: it is
// echoed from the request and never stored.
json ResponseOf(const json& stored, const json& body, const json& functions) {
  json response = stored;
  response["regSec"] = body["regSec"];
  response["apiProvFuncs"] = functions;
  return response;
}

std::string RegistrationLocation(const std::string& api_root, const std::string& id) {
  return absl::StrCat(api_root, kProviderManagementRoot, "/registrations/", id);
}

}  // namespace

absl::StatusOr<Resource> FindProviderFunction(ResourceStore& resources, absl::string_view id,
                                              absl::string_view role) {
  ASSIGN_OR_RETURN(std::optional<Resource> f, resources.Get(kResourceProviderFunction, id));
  if (!f) return absl::NotFoundError("no such API provider function");
  json doc = json::parse(f->json, nullptr, false);
  if (!doc.is_object() || doc.value("apiProvFuncRole", "") != role) {
    return absl::NotFoundError("no such API provider function with that role");
  }
  return *f;
}

void ProviderManagementApi::RegisterRoutes(HttpsServer& server) {
  const std::string base = std::string(kProviderManagementRoot) + "/registrations";
  server.Route("POST", base, [this](const RestRequest& r) { return Register(r); });
  server.Route("PUT", base + "/([^/]+)", [this](const RestRequest& r) { return Update(r); });
  server.Route("DELETE", base + "/([^/]+)", [this](const RestRequest& r) { return Deregister(r); });
  server.Route("PATCH", base + "/([^/]+)", [](const RestRequest&) -> absl::StatusOr<RestResponse> {
    return RestError(501, "PATCH of a registration is not implemented yet; use PUT");
  });
}

absl::StatusOr<RestResponse> ProviderManagementApi::Register(const RestRequest& req) {
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  if (body.contains("apiProvDomId")) {
    return InvalidParamError("apiProvDomId", "is assigned by the CCF and must not be sent");
  }
  json stored;
  ASSIGN_OR_RETURN(std::vector<FunctionRequest> funcs, ValidateEnrolment(body, &stored));
  for (size_t i = 0; i < funcs.size(); ++i) {
    if (!funcs[i].id.empty()) {
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
  std::string dom_id = NewResourceId("dom");
  std::vector<Resource> functions;
  json out_funcs = json::array();
  for (FunctionRequest& f : funcs) {
    std::string lower = absl::AsciiStrToLower(f.role);
    f.id = NewResourceId(lower);
    ASSIGN_OR_RETURN(std::string cert,
                     CertifyPublicKey(*config_.ca, *KindOfRole(f.role), f.id, f.public_key_pem,
                                      "regInfo.apiProvPubKey", *config_.clock,
                                      config_.certificate_validity));
    f.stored["apiProvFuncId"] = f.id;
    f.stored["regInfo"]["apiProvCert"] = cert;
    functions.push_back({kResourceProviderFunction, f.id, dom_id, f.stored.dump()});
    out_funcs.push_back(f.stored);
  }
  stored["apiProvDomId"] = dom_id;
  RETURN_IF_ERROR(config_.resources->Insert({kResourceProviderDomain, dom_id, "", stored.dump()}));
  for (const Resource& f : functions) RETURN_IF_ERROR(config_.resources->Insert(f));
  LogInfo("providers", absl::StrCat("registered API provider domain ", dom_id, " with ",
                                    functions.size(), " functions"));
  json response = ResponseOf(stored, body, out_funcs);
  RestResponse res = RestResponse::Json(201, response);
  res.headers.emplace_back("Location", RegistrationLocation(config_.api_root, dom_id));
  return res;
}

namespace {

// The caller must be a registered AMF of the domain in the path.
absl::StatusOr<std::string> RequireAmfOf(const RestRequest& req, ResourceStore& resources,
                                         const CertificateAuthority& ca) {
  if (req.path_params.empty()) return RestError(404, "no registration in the path");
  std::string dom_id = req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of an AMF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAmf ||
      req.caller->trust_domain() != ca.trust_domain()) {
    return RestError(403, "only an AMF may manage a registration", "OPERATION_NOT_ALLOWED");
  }
  auto amf = resources.Get(kResourceProviderFunction, req.caller->id());
  if (!amf.ok()) return amf.status();
  if (!*amf || (*amf)->owner != dom_id) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to manage registration ",
                                        absl::CEscape(dom_id.substr(0, 64))));
    return RestError(403, "the caller is not an AMF of this registration", "OPERATION_NOT_ALLOWED");
  }
  return dom_id;
}

}  // namespace

absl::StatusOr<RestResponse> ProviderManagementApi::Update(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string dom_id, RequireAmfOf(req, *config_.resources, *config_.ca));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  if (body.contains("apiProvDomId") && body["apiProvDomId"] != dom_id) {
    return InvalidParamError("apiProvDomId", "must equal the registrationId of the resource");
  }
  json stored;
  ASSIGN_OR_RETURN(std::vector<FunctionRequest> funcs, ValidateEnrolment(body, &stored));
  ASSIGN_OR_RETURN(std::vector<Resource> existing,
                   config_.resources->List(kResourceProviderFunction, dom_id));
  std::map<std::string, json> current;
  for (const Resource& r : existing) current[r.id] = json::parse(r.json);
  for (size_t i = 0; i < funcs.size(); ++i) {
    if (!funcs[i].id.empty() &&
        (current.count(funcs[i].id) == 0 ||
         current[funcs[i].id]["apiProvFuncRole"] != funcs[i].role)) {
      return InvalidParamError(absl::StrCat("apiProvFuncs[", i, "].apiProvFuncId"),
                               "is not a function of this registration with that role");
    }
  }
  // Everything is valid: certify new or re-keyed functions first, then write.
  std::vector<Resource> inserts, updates;
  std::set<std::string> kept;
  json out_funcs = json::array();
  for (FunctionRequest& f : funcs) {
    bool is_new = f.id.empty();
    if (is_new) f.id = NewResourceId(absl::AsciiStrToLower(f.role));
    std::string cert = is_new ? "" : current[f.id]["regInfo"].value("apiProvCert", "");
    if (is_new || !CertifiesSameKey(cert, f.public_key_pem)) {
      ASSIGN_OR_RETURN(cert, CertifyPublicKey(*config_.ca, *KindOfRole(f.role), f.id,
                                              f.public_key_pem, "regInfo.apiProvPubKey",
                                              *config_.clock, config_.certificate_validity));
    }
    f.stored["apiProvFuncId"] = f.id;
    f.stored["regInfo"]["apiProvCert"] = cert;
    (is_new ? inserts : updates).push_back({kResourceProviderFunction, f.id, dom_id, f.stored.dump()});
    kept.insert(f.id);
    out_funcs.push_back(f.stored);
  }
  stored["apiProvDomId"] = dom_id;
  RETURN_IF_ERROR(config_.resources->Update({kResourceProviderDomain, dom_id, "", stored.dump()}));
  for (const Resource& r : updates) RETURN_IF_ERROR(config_.resources->Update(r));
  for (const Resource& r : inserts) RETURN_IF_ERROR(config_.resources->Insert(r));
  for (const auto& [id, doc] : current) {
    if (kept.count(id) == 0) RETURN_IF_ERROR(config_.resources->Delete(kResourceProviderFunction, id));
  }
  return RestResponse::Json(200, ResponseOf(stored, body, out_funcs));
}

absl::StatusOr<RestResponse> ProviderManagementApi::Deregister(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string dom_id, RequireAmfOf(req, *config_.resources, *config_.ca));
  ASSIGN_OR_RETURN(std::vector<Resource> funcs,
                   config_.resources->List(kResourceProviderFunction, dom_id));
  // Service APIs are owned by their APF: Delete() of each function removes them.
  for (const Resource& f : funcs) {
    RETURN_IF_ERROR(config_.resources->Delete(kResourceProviderFunction, f.id));
  }
  RETURN_IF_ERROR(config_.resources->Delete(kResourceProviderDomain, dom_id));
  LogInfo("providers", absl::StrCat("deregistered API provider domain ", dom_id));
  return RestResponse::NoContent();
}

}  // namespace capif

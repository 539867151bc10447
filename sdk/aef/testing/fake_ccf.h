// What a test's stand-in CCF answers an AefServer's GET trustedInvokers/{id} for an invoker
// whose security method at `aef_id` is PSK: a ServiceSecurity with the AEFPSK (hex) as
// authenticationInfo, cacheable for `max_age_s` ("Cache-Control: private, max-age"). testonly.
#ifndef CAPIF_SDK_AEF_TESTING_FAKE_CCF_H_
#define CAPIF_SDK_AEF_TESTING_FAKE_CCF_H_

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "net/rest_types.h"

namespace capif {

inline RestResponse PskSecurityInfoAnswer(const std::string& invoker_id, const std::string& aef_id,
                                          absl::string_view psk, int max_age_s = 600) {
  RestResponse res = RestResponse::Json(
      200, {{"apiInvokerId", invoker_id},
            {"securityInfo",
             {{{"aefId", aef_id},
               {"selSecurityMethod", "PSK"},
               {"authenticationInfo", absl::BytesToHexString(psk)}}}}});
  res.headers.emplace_back("Cache-Control", absl::StrCat("private, max-age=", max_age_s));
  return res;
}

}  // namespace capif

#endif  // CAPIF_SDK_AEF_TESTING_FAKE_CCF_H_

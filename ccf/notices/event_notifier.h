// EventNotifier: delivers a CAPIF event notification (a kNoticeCapifEvent outbox notice,
// ccf/store/event_subscriptions.h) by POSTing its EventNotification to the subscription's
// notificationDestination, as TS 29.222 clause 8.8 asks (the callback of CAPIF_Events_API).
//
// TLS: the destination's certificate must chain to `ca_pem` (this domain's roots, plus any the
// operator added: events.destination_roots_file) and name the destination's host; this CCF
// presents its northbound certificate. 200/204 = acknowledged; anything else (a redirect
// included: not followed) is an error the outbox retries with backoff until the notice is a
// dead letter. One fresh connection per notification, bounded by `timeout`.
#ifndef CAPIF_CCF_NOTICES_EVENT_NOTIFIER_H_
#define CAPIF_CCF_NOTICES_EVENT_NOTIFIER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/store/stores.h"
#include "common/secret_bytes.h"

namespace capif {

class EventNotifier {
 public:
  struct Options {
    std::string ca_pem;
    std::string client_cert_pem;
    SecretBytes client_key_pem;
    absl::Duration timeout = absl::Seconds(5);
  };
  explicit EventNotifier(Options options) : options_(std::move(options)) {}

  absl::Status Deliver(const OutboundNotice& notice) const;

 private:
  const Options options_;
};

}  // namespace capif

#endif  // CAPIF_CCF_NOTICES_EVENT_NOTIFIER_H_

// InvocationLogger: an AEF's service API invocation logs, posted to its CCF with the TS 29.222
// CAPIF_Logging_API_Invocation_API (POST {ccf}/api-invocation-logs/v1/{aefId}/logs, mutual TLS
// with the AEF's certificate) in batches from a background thread, so serving a request never
// waits for the CCF.
//
//   InvocationLogger logger({ccf_api_root, ca_pem, cert_pem, key_pem, aef_id});
//   logger.Record(caller.invoker_id, {{"apiId", api_id}, {"apiName", "location-query"}, ...});
//
// Every `flush_every` the buffered entries go out, one InvocationLog per invoker of at most
// `max_per_post` entries. A failed post keeps its entries for the next flush (one warning when
// posting starts failing, one line when it works again); at most `max_buffered` entries wait,
// the oldest beyond are dropped and counted. The destructor makes a last attempt. Thread-safe.
#ifndef CAPIF_SDK_AEF_INVOCATION_LOGGER_H_
#define CAPIF_SDK_AEF_INVOCATION_LOGGER_H_

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/secret_bytes.h"

namespace capif {

class InvocationLogger {
 public:
  struct Options {
    std::string ccf_api_root;
    std::string ca_pem;
    std::string certificate_pem;  // the AEF's
    SecretBytes private_key_pem;
    std::string aef_id;
    absl::Duration flush_every = absl::Seconds(1);
    size_t max_buffered = 10000;
    size_t max_per_post = 1000;
    absl::Duration timeout = absl::Seconds(5);
  };
  struct Stats {
    uint64_t posted = 0;   // entries the CCF stored
    uint64_t dropped = 0;  // entries given up (buffer full, or refused by the CCF)
    uint64_t failed_posts = 0;
  };

  explicit InvocationLogger(Options options);
  ~InvocationLogger();

  // Queues one TS 29.222 Log of `invoker_id`'s invocation.
  void Record(const std::string& invoker_id, nlohmann::json log);
  // Posts what is buffered now (the background thread does this every flush_every): OK when
  // nothing is left or everything posted.
  absl::Status Flush();
  Stats stats() const;

 private:
  void Loop();

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<std::string, nlohmann::json>> buffer_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex flush_mu_;  // one flush at a time
  std::thread thread_;
};

}  // namespace capif

#endif  // CAPIF_SDK_AEF_INVOCATION_LOGGER_H_

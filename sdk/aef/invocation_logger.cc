#include "sdk/aef/invocation_logger.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "net/https_client.h"

namespace capif {

using nlohmann::json;

InvocationLogger::InvocationLogger(Options options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

InvocationLogger::~InvocationLogger() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
  Flush().IgnoreError();  // a last attempt; what fails is lost with the process
}

void InvocationLogger::Record(const std::string& invoker_id, json log) {
  absl::MutexLock l(&mu_);
  buffer_.emplace_back(invoker_id, std::move(log));
  while (buffer_.size() > options_.max_buffered) {
    buffer_.pop_front();
    ++stats_.dropped;
  }
}

InvocationLogger::Stats InvocationLogger::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void InvocationLogger::Loop() {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto stopping = [this] {
        mu_.AssertHeld();
        return stop_;
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.flush_every)) return;
    }
    Flush().IgnoreError();
  }
}

absl::Status InvocationLogger::Flush() {
  absl::MutexLock flushing(&flush_mu_);
  std::deque<std::pair<std::string, json>> taken;
  {
    absl::MutexLock l(&mu_);
    taken.swap(buffer_);
  }
  if (taken.empty()) return absl::OkStatus();
  // One InvocationLog per invoker and post, in the order recorded.
  std::vector<std::pair<std::string, std::vector<json>>> posts;
  std::map<std::string, size_t> open;
  for (auto& [invoker, log] : taken) {
    auto it = open.find(invoker);
    if (it == open.end() || posts[it->second].second.size() >= options_.max_per_post) {
      open[invoker] = posts.size();
      posts.push_back({invoker, {}});
      it = open.find(invoker);
    }
    posts[it->second].second.push_back(std::move(log));
  }
  HttpsClient::Options o;
  o.ca_pem = options_.ca_pem;
  o.client_cert_pem = options_.certificate_pem;
  o.client_key_pem = options_.private_key_pem;
  o.timeout = options_.timeout;
  o.keep_alive = true;
  auto client = HttpsClient::Create(std::move(o));
  absl::Status result = client.status();
  const std::string url =
      absl::StrCat(options_.ccf_api_root, "/api-invocation-logs/v1/", options_.aef_id, "/logs");
  std::vector<std::pair<std::string, json>> again;  // entries of failed posts, kept
  uint64_t posted = 0, refused = 0, failed = 0;
  for (auto& [invoker, logs] : posts) {
    if (result.ok()) {
      json body = {{"aefId", options_.aef_id}, {"apiInvokerId", invoker}, {"logs", logs}};
      auto r =
          (*client)->Request("POST", url, body.dump(-1, ' ', false, json::error_handler_t::replace),
                             "application/json");
      if (r.ok() && r->status == 201) {
        posted += logs.size();
        continue;
      }
      if (r.ok() && r->status >= 400 && r->status < 500 && r->status != 429) {
        // The CCF will never take these (e.g. an unknown apiId): not retried.
        LogWarning("aef", absl::StrCat("the CCF refused ", logs.size(), " invocation log(s): HTTP ",
                                       r->status, " ", r->body.substr(0, 200)));
        refused += logs.size();
        continue;
      }
      result = r.ok() ? absl::UnavailableError(absl::StrCat("HTTP ", r->status)) : r.status();
    }
    ++failed;
    for (json& l : logs) again.emplace_back(invoker, std::move(l));
  }
  absl::MutexLock l(&mu_);
  stats_.posted += posted;
  stats_.dropped += refused;
  stats_.failed_posts += failed;
  // Kept entries go back in front of what was recorded meanwhile, within the bound.
  for (auto it = again.rbegin(); it != again.rend(); ++it) buffer_.push_front(std::move(*it));
  while (buffer_.size() > options_.max_buffered) {
    buffer_.pop_front();
    ++stats_.dropped;
  }
  if (!result.ok() && !failing_) {
    LogWarning("aef", absl::StrCat("posting invocation logs to the CCF fails (", result.message(),
                                   "); they are kept and retried"));
  } else if (result.ok() && failing_) {
    LogInfo("aef", "posting invocation logs to the CCF works again");
  }
  failing_ = !result.ok();
  return result;
}

}  // namespace capif

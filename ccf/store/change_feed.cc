#include "ccf/store/change_feed.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/secret_bytes.h"

namespace capif {
namespace {

constexpr char kChannel[] = "capif_changes";

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeFeed>> ChangeFeed::Open(std::shared_ptr<SqlDatabase> db,
                                                            const StorageConfig& storage) {
  std::string instance =
      absl::BytesToHexString(SecretBytes::Random(8).Reveal(InsecureSecretAccess()));
  std::unique_ptr<ChangeFeed> feed(new ChangeFeed(std::move(db), std::move(instance)));
  if (storage.postgres) {
    ChangeFeed* self = feed.get();
    auto listener = PostgresListener::Start(
        storage.postgres->dsn, kChannel,
        [self](const std::optional<std::string>& payload) { self->OnNotification(payload); });
    if (!listener.ok()) return listener.status();
    feed->listener_ = *std::move(listener);
  }
  return feed;
}

ChangeFeed::~ChangeFeed() { listener_.reset(); }

void ChangeFeed::Subscribe(const std::string& topic, Handler handler) {
  absl::MutexLock lock(&mu_);
  handlers_[topic].push_back(std::move(handler));
}

void ChangeFeed::Dispatch(const std::string& topic, const std::string& key) {
  std::vector<Handler> handlers;
  {
    absl::MutexLock lock(&mu_);
    auto it = handlers_.find(topic);
    if (it == handlers_.end()) return;
    handlers = it->second;
  }
  for (const Handler& h : handlers) h(key);
}

void ChangeFeed::DispatchAll() {
  std::vector<std::string> topics;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [topic, handlers] : handlers_) topics.push_back(topic);
  }
  for (const std::string& t : topics) Dispatch(t, "");
}

void ChangeFeed::Publish(const std::string& topic, const std::string& key) {
  Dispatch(topic, key);
  if (listener_ == nullptr) return;
  // instance \n topic \n key; NOTIFY payloads are limited to 8000 bytes, ids are far shorter.
  absl::Status s = db_->Execute("SELECT pg_notify(?, ?)",
                                {std::string(kChannel), absl::StrCat(instance_, "\n", topic, "\n",
                                                                     key.substr(0, 4096))});
  absl::MutexLock lock(&mu_);
  if (!s.ok() && !publish_failing_) {
    LogWarning("changes", absl::StrCat("cannot tell the other replicas of a change (", topic,
                                       "): ", s.message()));
  } else if (s.ok() && publish_failing_) {
    LogInfo("changes", "telling the other replicas of changes works again");
  }
  publish_failing_ = !s.ok();
}

void ChangeFeed::OnNotification(const std::optional<std::string>& payload) {
  if (!payload) {
    DispatchAll();  // the listener was disconnected: anything may have changed
    return;
  }
  std::vector<std::string> parts = absl::StrSplit(*payload, absl::MaxSplits('\n', 2));
  if (parts.size() != 3 || parts[0] == instance_) return;  // malformed, or our own
  Dispatch(parts[1], parts[2]);
}

int64_t ChangeFeed::received() const {
  return listener_ != nullptr ? listener_->received() : 0;
}

}  // namespace capif

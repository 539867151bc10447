#include "ccf/store/used_assertions.h"

#include "common/status_macros.h"

namespace capif {

bool SqlUsedAssertions::DoneOrFree(Waiter* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return w->pending->done || !w->self->committing_;
}

absl::Status SqlUsedAssertions::Remember(const std::string& key, absl::Time expires,
                                         absl::Time now) {
  Pending me{key, expires, now};
  Waiter waiter{this, &me};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&me);
  for (;;) {
    mu_.Await(absl::Condition(&SqlUsedAssertions::DoneOrFree, &waiter));
    if (me.done) return me.result;
    // Nobody is committing: commit everything waiting, this call's id included.
    committing_ = true;
    std::vector<Pending*> batch;
    batch.swap(queue_);
    mu_.Unlock();
    Commit(batch);
    mu_.Lock();
    for (Pending* p : batch) p->done = true;
    committing_ = false;
  }
}

void SqlUsedAssertions::Commit(const std::vector<Pending*>& batch) {
  absl::Status s = db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    // A bounded sweep per commit keeps the table at about the number of live assertions.
    RETURN_IF_ERROR(tx.Execute(
        "DELETE FROM used_assertions WHERE assertion_key IN (SELECT assertion_key FROM "
        "used_assertions WHERE expires_us < ? ORDER BY expires_us LIMIT ?)",
        {absl::ToUnixMicros(batch.front()->now), static_cast<int64_t>(16 * batch.size())}));
    for (Pending* p : batch) {
      ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                       tx.Query("SELECT expires_us FROM used_assertions WHERE assertion_key = ?",
                                {p->key}));
      if (!rows.empty() && SqlInt(rows[0][0]) >= absl::ToUnixMicros(p->now)) {
        p->result = absl::AlreadyExistsError("the client assertion was already used");
        continue;
      }
      p->result = tx.Execute(
          "INSERT INTO used_assertions(assertion_key, expires_us) VALUES (?, ?) "
          "ON CONFLICT(assertion_key) DO UPDATE SET expires_us = excluded.expires_us",
          {p->key, absl::ToUnixMicros(p->expires)});
      RETURN_IF_ERROR(p->result);
    }
    return absl::OkStatus();
  });
  // The whole batch failed (rolled back): no id of it was remembered.
  if (!s.ok()) {
    for (Pending* p : batch) p->result = s;
  }
}

}  // namespace capif

#include "common/sql_database.h"

namespace capif {

std::string SqlText(const SqlValue& v) {
  if (const std::string* s = std::get_if<std::string>(&v)) return *s;
  if (const SqlBlob* b = std::get_if<SqlBlob>(&v)) return b->bytes;
  return "";
}

int64_t SqlInt(const SqlValue& v) {
  if (const int64_t* n = std::get_if<int64_t>(&v)) return *n;
  return 0;
}

std::string SqlBytes(const SqlValue& v) { return SqlText(v); }

}  // namespace capif

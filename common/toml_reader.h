// Typed reading of the keys of one TOML table, for configuration files: every problem is
// collected as "FILE:LINE: [section] key: message", and keys nobody read are reported as
// unknown, so one run names everything wrong with a file.
#ifndef DROVER_COMMON_TOML_READER_H_
#define DROVER_COMMON_TOML_READER_H_

#include <toml++/toml.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/duration.h"

namespace drover {

// "a table", "an integer", ...: a TOML type as error messages name it.
const char* TypeName(toml::node_type t);

// Collects errors in "FILE:LINE: [section] key: message" form.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void Add(const toml::node* node, const std::string& where, const std::string& msg) {
    std::string line = node ? std::to_string(node->source().begin.line) : "?";
    list_.push_back(file_ + ":" + line + ": " + where + ": " + msg);
  }
  void AddAt(int line, const std::string& where, const std::string& msg) {
    list_.push_back(file_ + ":" + std::to_string(line) + ": " + where + ": " + msg);
  }
  bool empty() const { return list_.empty(); }
  std::string Joined() const {
    std::string out;
    for (const auto& e : list_) out += (out.empty() ? "" : "\n") + e;
    return out;
  }

 private:
  std::string file_;
  std::vector<std::string> list_;
};

// Reads typed keys out of one table and reports unknown keys when done.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string section, Errors* errors)
      : table_(table), section_(std::move(section)), errors_(errors) {}
  ~TableReader() {
    for (auto&& [key, node] : table_) {
      if (!seen_.count(std::string(key.str()))) {
        errors_->Add(&node, Where(std::string(key.str())),
                     "unknown key (check the spelling; see drover.toml(5))");
      }
    }
  }

  const toml::node* Get(const std::string& key) {
    seen_.insert(key);
    return table_.get(key);
  }
  std::string Where(const std::string& key) const { return "[" + section_ + "] " + key; }
  void Error(const toml::node* node, const std::string& key, const std::string& msg) {
    errors_->Add(node ? node : &table_, Where(key), msg);
  }
  int line() const { return static_cast<int>(table_.source().begin.line); }

  bool WrongType(const toml::node* n, const std::string& key, toml::node_type want) {
    if (n->type() == want) return false;
    Error(n, key, std::string("expected ") + TypeName(want) + ", got " + TypeName(n->type()));
    return true;
  }

  void String(const std::string& key, std::string* out, bool allow_empty = false) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::string)) return;
    std::string v = n->as_string()->get();
    if (v.empty() && !allow_empty) return Error(n, key, "must not be empty");
    *out = v;
  }
  // A string key with two allowed values; *out is whether it is `on` (unchanged when absent).
  void Switch(const std::string& key, const char* off, const char* on, bool* out) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::string)) return;
    std::string v = n->as_string()->get();
    if (v != off && v != on) {
      return Error(n, key, std::string("must be \"") + off + "\" or \"" + on + "\" (got \"" + v + "\")");
    }
    *out = v == on;
  }
  void Bool(const std::string& key, bool* out) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::boolean)) return;
    *out = n->as_boolean()->get();
  }
  template <typename Int>
  void Integer(const std::string& key, Int* out, std::int64_t min, std::int64_t max) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::integer)) return;
    std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      return Error(n, key,
                   "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                       std::to_string(v) + ")");
    }
    *out = static_cast<Int>(v);
  }
  void DurationKey(const std::string& key, Duration* out, Duration min = Duration(0)) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::string)) return;
    Result<Duration> d = ParseDuration(n->as_string()->get());
    if (!d.ok()) return Error(n, key, d.status().message());
    if (*d < min) return Error(n, key, "must be at least " + FormatDuration(min));
    *out = *d;
  }
  void Size(const std::string& key, std::uint64_t* out) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::string)) return;
    Result<std::uint64_t> s = ParseSize(n->as_string()->get());
    if (!s.ok()) return Error(n, key, s.status().message());
    *out = *s;
  }
  void StringList(const std::string& key, std::vector<std::string>* out, bool allow_empty) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::array)) return;
    std::vector<std::string> v;
    for (const toml::node& item : *n->as_array()) {
      if (!item.is_string() || item.as_string()->get().empty()) {
        return Error(&item, key, "every element must be a non-empty string");
      }
      v.push_back(item.as_string()->get());
    }
    if (v.empty() && !allow_empty) return Error(n, key, "must not be empty");
    *out = std::move(v);
  }
  const toml::table* Table(const std::string& key) {
    const toml::node* n = Get(key);
    if (!n || WrongType(n, key, toml::node_type::table)) return nullptr;
    return n->as_table();
  }

 private:
  const toml::table& table_;
  std::string section_;
  Errors* errors_;
  std::set<std::string> seen_;
};

}  // namespace drover

#endif  // DROVER_COMMON_TOML_READER_H_

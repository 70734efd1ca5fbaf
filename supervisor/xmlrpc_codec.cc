#include "supervisor/xmlrpc_codec.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <string_view>
#include <vector>
#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/xml.hpp>

#include "common/escape.h"

namespace drover {
namespace {

using json = nlohmann::json;

// What XML 1.0 can carry: valid UTF-8 without control characters other than tab and newlines.
// Anything else (a log line cut inside a character, a job's stray bytes) becomes U+FFFD.
std::string XmlSafe(const std::string& s) { return ValidUtf8(s, false); }

// libxmlrpc 1.33 (Debian 12) crashes while it reports an <i8> that is not a 64-bit integer
// (found by tests/fuzz/xmlrpc_call_fuzz), so every element named i8 (any prefix) is checked here
// first: optional blanks, an optional sign, 1 to 19 digits, within 64 bits. Stricter than the
// library (no character references inside an <i8>), which only refuses more.
bool I8ElementsAreSound(const std::string& body) {
  for (size_t lt = body.find('<'); lt != std::string::npos; lt = body.find('<', lt + 1)) {
    size_t end = body.find_first_of(" \t\r\n/>", lt + 1);
    if (end == std::string::npos) return true;  // the parser refuses a cut tag
    std::string_view name(body.data() + lt + 1, end - lt - 1);
    if (name != "i8" && !(name.size() > 3 && name.substr(name.size() - 3) == ":i8")) continue;
    size_t open_end = body.find('>', end);
    if (open_end == std::string::npos) return true;
    if (body[open_end - 1] == '/') continue;  // <i8/>: empty, which the library refuses safely
    size_t close = body.find('<', open_end + 1);
    if (close == std::string::npos) return true;
    std::string text = body.substr(open_end + 1, close - open_end - 1);
    size_t first = text.find_first_not_of(" \t\r\n"), last = text.find_last_not_of(" \t\r\n");
    if (first == std::string::npos) continue;
    text = text.substr(first, last - first + 1);
    size_t digits = text.find_first_not_of("+-") == 1 ? 1 : 0;
    if (text.size() - digits < 1 || text.size() - digits > 19 ||
        text.find_first_not_of("0123456789", digits) != std::string::npos) {
      return false;
    }
    errno = 0;
    (void)std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) return false;
  }
  return true;
}

json ToJson(const xmlrpc_c::value& v) {
  switch (v.type()) {
    case xmlrpc_c::value::TYPE_INT:
      return static_cast<int>(xmlrpc_c::value_int(v));
    case xmlrpc_c::value::TYPE_I8:
      return static_cast<std::int64_t>(xmlrpc_c::value_i8(v));
    case xmlrpc_c::value::TYPE_BOOLEAN:
      return static_cast<bool>(xmlrpc_c::value_boolean(v));
    case xmlrpc_c::value::TYPE_DOUBLE:
      return static_cast<double>(xmlrpc_c::value_double(v));
    case xmlrpc_c::value::TYPE_STRING:
      return static_cast<std::string>(xmlrpc_c::value_string(v));
    case xmlrpc_c::value::TYPE_DATETIME:
      return xmlrpc_c::value_datetime(v).iso8601Value();
    case xmlrpc_c::value::TYPE_BYTESTRING: {
      std::vector<unsigned char> bytes = xmlrpc_c::value_bytestring(v).vectorUcharValue();
      return std::string(bytes.begin(), bytes.end());
    }
    case xmlrpc_c::value::TYPE_ARRAY: {
      json out = json::array();
      for (const xmlrpc_c::value& e : xmlrpc_c::value_array(v).vectorValueValue()) out.push_back(ToJson(e));
      return out;
    }
    case xmlrpc_c::value::TYPE_STRUCT: {
      json out = json::object();
      std::map<std::string, xmlrpc_c::value> m = xmlrpc_c::value_struct(v);
      for (const auto& [k, e] : m) out[k] = ToJson(e);
      return out;
    }
    default:
      return nullptr;
  }
}

xmlrpc_c::value FromJson(const json& j) {
  switch (j.type()) {
    case json::value_t::boolean:
      return xmlrpc_c::value_boolean(j.get<bool>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: {
      std::int64_t n = j.get<std::int64_t>();
      if (n >= std::numeric_limits<int>::min() && n <= std::numeric_limits<int>::max()) {
        return xmlrpc_c::value_int(static_cast<int>(n));
      }
      return xmlrpc_c::value_i8(n);
    }
    case json::value_t::number_float:
      return xmlrpc_c::value_double(j.get<double>());
    case json::value_t::string:
      return xmlrpc_c::value_string(XmlSafe(j.get<std::string>()));
    case json::value_t::array: {
      std::vector<xmlrpc_c::value> items;
      for (const json& e : j) items.push_back(FromJson(e));
      return xmlrpc_c::value_array(items);
    }
    case json::value_t::object: {
      std::map<std::string, xmlrpc_c::value> m;
      for (const auto& [k, e] : j.items()) m.emplace(XmlSafe(k), FromJson(e));
      return xmlrpc_c::value_struct(m);
    }
    default:
      return xmlrpc_c::value_nil();
  }
}

std::string Response(const xmlrpc_c::rpcOutcome& outcome) {
  std::string xml;
  try {
    xmlrpc_c::xml::generateResponse(outcome, xmlrpc_dialect_i8, &xml);
  } catch (const std::exception& e) {
    // Not expected with XmlSafe strings; an answer the client can read all the same.
    xmlrpc_c::xml::generateResponse(
        xmlrpc_c::rpcOutcome(xmlrpc_c::fault(XmlSafe(std::string("cannot encode the answer: ") + e.what()),
                                             static_cast<xmlrpc_c::fault::code_t>(30))),
        &xml);
  }
  return xml;
}

// True when `body` holds a markup declaration ("<!" and a letter: DOCTYPE, ENTITY, ELEMENT,
// ...). XML-RPC needs none, and a DOCTYPE's entities can expand a request of a kilobyte into
// gigabytes inside the library's parser ("billion laughs"), so such bodies never reach it.
// Comments and CDATA sections ("<!--", "<![CDATA[") stay allowed.
bool HasMarkupDeclaration(const std::string& body) {
  for (size_t at = body.find("<!"); at != std::string::npos; at = body.find("<!", at + 2)) {
    if (at + 2 < body.size() && std::isalpha(static_cast<unsigned char>(body[at + 2]))) return true;
  }
  return false;
}

}  // namespace

Result<XmlRpcCall> ParseXmlRpcCall(const std::string& body) {
  if (HasMarkupDeclaration(body))
    return Status::InvalidArgument(
        "not an XML-RPC call: a DOCTYPE or other markup declaration is not accepted");
  if (!I8ElementsAreSound(body))
    return Status::InvalidArgument("not an XML-RPC call: an <i8> is not a 64-bit integer");
  try {
    XmlRpcCall call;
    xmlrpc_c::paramList params;
    xmlrpc_c::xml::parseCall(body, &call.method, &params);
    for (size_t i = 0; i < params.size(); ++i) call.params.push_back(ToJson(params[i]));
    return call;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("not an XML-RPC call: ") + e.what());
  }
}

std::string XmlRpcResponseBody(const json& value) { return Response(xmlrpc_c::rpcOutcome(FromJson(value))); }

std::string XmlRpcFaultBody(int code, const std::string& message) {
  return Response(
      xmlrpc_c::rpcOutcome(xmlrpc_c::fault(XmlSafe(message), static_cast<xmlrpc_c::fault::code_t>(code))));
}

std::string XmlRpcCallBody(const std::string& method, const json& params) {
  xmlrpc_c::paramList list;
  for (const json& p : params) list.add(FromJson(p));
  std::string xml;
  xmlrpc_c::xml::generateCall(method, list, xmlrpc_dialect_i8, &xml);
  return xml;
}

Result<XmlRpcOutcome> ParseXmlRpcResponse(const std::string& body) {
  try {
    xmlrpc_c::rpcOutcome outcome;
    xmlrpc_c::xml::parseResponse(body, &outcome);
    if (outcome.succeeded()) return XmlRpcOutcome{false, ToJson(outcome.getResult())};
    xmlrpc_c::fault f = outcome.getFault();
    return XmlRpcOutcome{true,
                         {{"faultCode", static_cast<int>(f.getCode())}, {"faultString", f.getDescription()}}};
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("not an XML-RPC response: ") + e.what());
  }
}

}  // namespace drover

// XML-RPC bodies to and from JSON values, with xmlrpc-c (libxmlrpc++) doing the XML: the rest
// of droverd handles calls as nlohmann::json and never sees the library. Structs are objects,
// arrays arrays, nil null; dateTime and base64 arrive as strings. Thread-safe.
#ifndef DROVER_SUPERVISOR_XMLRPC_CODEC_H_
#define DROVER_SUPERVISOR_XMLRPC_CODEC_H_

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace drover {

struct XmlRpcCall {
  std::string method;
  nlohmann::json params = nlohmann::json::array();
};

// Decodes a <methodCall>. Fails with InvalidArgument saying what is wrong with the XML.
Result<XmlRpcCall> ParseXmlRpcCall(const std::string& body);
// A <methodResponse> carrying `value`. Integers outside 32 bits go as <i8>.
std::string XmlRpcResponseBody(const nlohmann::json& value);
// A <methodResponse> carrying a fault.
std::string XmlRpcFaultBody(int code, const std::string& message);

// The client's side, for tests and tools: a <methodCall> body, and a response's value (a fault
// becomes {"faultCode": N, "faultString": S} with `fault` set).
std::string XmlRpcCallBody(const std::string& method, const nlohmann::json& params);
struct XmlRpcOutcome {
  bool fault = false;
  nlohmann::json value;
};
Result<XmlRpcOutcome> ParseXmlRpcResponse(const std::string& body);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_XMLRPC_CODEC_H_

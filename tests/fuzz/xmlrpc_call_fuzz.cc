// XML-RPC call bodies from any local client: decoded or refused, never a crash; whatever
// decodes encodes again, and the answer made of it decodes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "supervisor/xmlrpc_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::XmlRpcCall> call = drover::ParseXmlRpcCall(body);
  if (!call.ok()) {
    if (call.status().message().empty()) __builtin_trap();
    return 0;
  }
  drover::Result<drover::XmlRpcOutcome> back =
      drover::ParseXmlRpcResponse(drover::XmlRpcResponseBody(call->params));
  if (!back.ok() || back->fault) __builtin_trap();
  return 0;
}

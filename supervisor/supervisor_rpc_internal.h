// Shorthands shared by the files that serve supervisord's XML-RPC API (supervisor_rpc.cc,
// supervisor_rpc_logs.cc).
#ifndef DROVER_SUPERVISOR_SUPERVISOR_RPC_INTERNAL_H_
#define DROVER_SUPERVISOR_SUPERVISOR_RPC_INTERNAL_H_

#include <string>

#include "supervisor/child.h"
#include "supervisor/supervisord_api.h"

namespace drover::rpc {

// A group is a pool, and the scheduler is a group of its own.
inline std::string GroupOf(const Child& c) { return c.pool.empty() ? "scheduler" : c.pool; }

inline RpcOutcome Value(nlohmann::json v) { return RpcOutcome::Value(std::move(v)); }
inline RpcOutcome Fault(int code, const std::string& detail = "") { return RpcOutcome::Fault(code, detail); }

}  // namespace drover::rpc

#endif  // DROVER_SUPERVISOR_SUPERVISOR_RPC_INTERNAL_H_

// The listening socket, made here rather than by the HTTP library: any --host (IPv4, IPv6 dual-stack, a name),
// port 0 for any free port, and a clear error when the address is taken.
#pragma once

#include <string>

namespace kprcnn::server {

// A bound, listening, non-blocking, close-on-exec TCP socket on host:port; `bound_port` receives the actual port.
// Throws kprcnn::Error(kIo) naming the address and the reason.
int make_listen_socket(const std::string& host, int port, int& bound_port);

}  // namespace kprcnn::server

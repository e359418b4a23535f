//! Socket settings every Kaon gRPC server uses on the connections it accepts.

use tonic::transport::server::TcpIncoming;

/// Accepted connections of `listener`, with Nagle's algorithm off.
///
/// Tonic's `Server::builder().tcp_nodelay(true)` applies only to listeners tonic
/// binds itself, not to one passed to `serve_with_incoming`. Left on, Nagle holds
/// back the second small write of a reply (a histogram, a batch of task reports)
/// until the peer's delayed ACK, 40 ms later on Linux: every round trip between
/// workers, scheduler and clients paid that.
pub fn no_delay(listener: tokio::net::TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

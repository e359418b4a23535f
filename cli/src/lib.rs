//! Library side of the `kaon` command: local clusters (shared with the Python
//! package) and the HTTP scaler a gateway-managed scheduler calls.

pub mod local;
pub mod scaler_url;

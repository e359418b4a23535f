//! Kaon's scheduler: a pure state machine (state) and, around it, the tonic service.
pub mod adaptive;
pub mod server;
pub mod state;

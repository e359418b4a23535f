//! Kaon's Rust client: build chunked-array expressions, submit them to a scheduler,
//! follow progress and fetch results.
//!
//! [`array`] holds the lazy [`Array`] and its fused lowering to a layer graph (pure,
//! no I/O); [`Client`] talks to the scheduler over gRPC and fetches result chunks
//! from the workers' Data services directly. The Python package wraps this crate.

pub mod array;
mod client;
pub mod ntuple;

pub use array::{Array, ArrayError, lower, seed_expression};
pub use client::{Client, ClientError, GraphHandle};
pub use kaon_proto::{GraphProgress, LayerProgress};

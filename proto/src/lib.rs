//! Kaon's wire protocol (`kaon.v1`): generated prost messages and tonic services.
//!
//! Everything that crosses a process boundary is defined in `proto/kaon.proto`.
//! Decoding is done by prost, which returns an error (never panics) on truncated or
//! garbage bytes; semantic validation of a decoded graph lives in `kaon-graph`.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

pub mod v1 {
    tonic::include_proto!("kaon.v1");
}

pub mod auth;
pub mod data;
pub mod net;

pub use v1::*;

/// The largest gRPC message either side accepts (chunks travel in smaller pieces).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Size of the pieces a chunk is split into on the Data service.
pub const CHUNK_PIECE_BYTES: usize = 4 * 1024 * 1024;

/// The largest chunk a Data stream may announce (guards allocations on receipt).
pub const MAX_CHUNK_BYTES: u64 = 16 * 1024 * 1024 * 1024;

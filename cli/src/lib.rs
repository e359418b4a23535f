//! Library side of the `kaon` command: local clusters, shared with the Python package.

pub mod local;

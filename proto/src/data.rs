//! Framing of chunks on the `Data` service: splitting into pieces and reassembling.
//!
//! Both the worker (serving and fetching from peers) and the client (fetching
//! results) use these, so a chunk is framed one way everywhere.

use crate::auth::{AddToken, Authed};
use crate::v1::{ChunkPiece, Dtype, FetchChunksRequest, TaskRef, data_client::DataClient};

/// A chunk as it travels: dtype, shape and raw little-endian bytes in C order; or a
/// table chunk ([`Dtype::Table`]): its shape in its layer's grid and an Arrow IPC
/// stream (schema, then record batches) as `bytes`. Both are cut into pieces and
/// reassembled the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct RawChunk {
    pub task: TaskRef,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    pub bytes: Vec<u8>,
}

/// Splits a chunk into pieces of at most `piece_bytes` (at least one piece, even when
/// empty); the first piece carries dtype, shape and total size.
pub fn to_pieces(chunk: RawChunk, piece_bytes: usize) -> Vec<ChunkPiece> {
    let total = chunk.bytes.len();
    let mut pieces = Vec::with_capacity(total.div_ceil(piece_bytes).max(1));
    let mut first = true;
    let mut at = 0;
    while first || at < total {
        let end = (at + piece_bytes).min(total);
        pieces.push(ChunkPiece {
            task: Some(chunk.task),
            dtype: chunk.dtype as i32,
            shape: if first { chunk.shape.clone() } else { vec![] },
            total_bytes: if first { total as u64 } else { 0 },
            data: chunk.bytes[at..end].to_vec(),
        });
        first = false;
        at = end;
    }
    pieces
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {address}: {message}")]
    Connect { address: String, message: String },
    #[error("{address} refused the fetch: {status}")]
    Status {
        address: String,
        status: tonic::Status,
    },
    #[error("{address} sent a malformed chunk stream: {message}")]
    Protocol { address: String, message: String },
}

/// Opens a channel to a Data service address (`host:port`).
pub async fn connect_data(
    address: &str,
    token: &AddToken,
) -> Result<DataClient<Authed>, FetchError> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| FetchError::Connect {
            address: address.into(),
            message: e.to_string(),
        })?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.map_err(|e| FetchError::Connect {
        address: address.into(),
        message: e.to_string(),
    })?;
    Ok(DataClient::with_interceptor(channel, token.clone())
        .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(crate::MAX_MESSAGE_BYTES))
}

/// Fetches chunks from one Data service and reassembles them, in request order.
pub async fn fetch_chunks(
    client: &mut DataClient<Authed>,
    address: &str,
    tasks: Vec<TaskRef>,
) -> Result<Vec<RawChunk>, FetchError> {
    let wanted = tasks.len();
    let mut stream = client
        .fetch_chunks(FetchChunksRequest { tasks })
        .await
        .map_err(|status| FetchError::Status {
            address: address.into(),
            status,
        })?
        .into_inner();
    let protocol = |message: String| FetchError::Protocol {
        address: address.into(),
        message,
    };
    let mut chunks: Vec<RawChunk> = Vec::with_capacity(wanted);
    let mut remaining: u64 = 0;
    while let Some(piece) = stream
        .message()
        .await
        .map_err(|status| FetchError::Status {
            address: address.into(),
            status,
        })?
    {
        let task = piece
            .task
            .ok_or_else(|| protocol("a piece without a task".into()))?;
        if remaining == 0 {
            // First piece of a new chunk.
            let dtype = Dtype::try_from(piece.dtype)
                .ok()
                .filter(|d| *d != Dtype::Unspecified)
                .ok_or_else(|| protocol(format!("unknown dtype {}", piece.dtype)))?;
            if piece.total_bytes > crate::MAX_CHUNK_BYTES {
                return Err(protocol(format!("a chunk of {} bytes", piece.total_bytes)));
            }
            remaining = piece.total_bytes;
            chunks.push(RawChunk {
                task,
                dtype,
                shape: piece.shape,
                bytes: Vec::with_capacity(remaining as usize),
            });
        } else if chunks.last().map(|c| c.task) != Some(task) {
            return Err(protocol("pieces of two chunks interleave".into()));
        }
        let chunk = chunks.last_mut().unwrap();
        if piece.data.len() as u64 > remaining && !(remaining == 0 && piece.data.is_empty()) {
            return Err(protocol("a chunk longer than announced".into()));
        }
        remaining -= piece.data.len() as u64;
        chunk.bytes.extend_from_slice(&piece.data);
    }
    if remaining != 0 {
        return Err(protocol("the stream ended inside a chunk".into()));
    }
    if chunks.len() != wanted {
        return Err(protocol(format!(
            "asked for {wanted} chunks, got {}",
            chunks.len()
        )));
    }
    Ok(chunks)
}

/// Open channels to Data services, one per address, shared by all fetches.
#[derive(Clone, Default)]
pub struct DataClients {
    channels:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, DataClient<Authed>>>>,
    token: AddToken,
}

impl DataClients {
    /// Clients that present the cluster's token (if any) to every worker.
    pub fn with_token(token: AddToken) -> Self {
        Self {
            channels: Default::default(),
            token,
        }
    }

    /// Fetches chunks from `address`, connecting on first use; a failed connection is
    /// dropped so the next fetch reconnects.
    pub async fn fetch(
        &self,
        address: &str,
        tasks: Vec<TaskRef>,
    ) -> Result<Vec<RawChunk>, FetchError> {
        let cached = self.channels.lock().unwrap().get(address).cloned();
        let mut client = match cached {
            Some(c) => c,
            None => {
                let c = connect_data(address, &self.token).await?;
                self.channels
                    .lock()
                    .unwrap()
                    .insert(address.to_string(), c.clone());
                c
            }
        };
        let result = fetch_chunks(&mut client, address, tasks).await;
        if matches!(
            result,
            Err(FetchError::Status { .. } | FetchError::Connect { .. })
        ) {
            self.channels.lock().unwrap().remove(address);
        }
        result
    }
}

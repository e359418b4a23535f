//! The worker's `Data` service: streams held chunks to peers and clients.

use crate::store::{ChunkStore, key_of};
use futures::Stream;
use kaon_proto::data::{RawChunk, to_pieces};
use kaon_proto::{ChunkPiece, FetchChunksRequest, TaskRef, data_server::Data};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tonic::{Request, Response, Status};

pub(crate) struct DataService {
    pub store: Arc<Mutex<ChunkStore>>,
}

type PieceStream = Pin<Box<dyn Stream<Item = Result<ChunkPiece, Status>> + Send>>;

/// Stream state: chunks still to send, and the pieces of the current one.
struct Sending {
    store: Arc<Mutex<ChunkStore>>,
    tasks: VecDeque<TaskRef>,
    pieces: VecDeque<ChunkPiece>,
}

#[tonic::async_trait]
impl Data for DataService {
    type FetchChunksStream = PieceStream;

    async fn fetch_chunks(
        &self,
        request: Request<FetchChunksRequest>,
    ) -> Result<Response<PieceStream>, Status> {
        let tasks = request.into_inner().tasks;
        // Refuse unknown chunks up front, so the caller tries another holder at once.
        {
            let store = self.store.lock().unwrap();
            for t in &tasks {
                if !store.contains(&key_of(t)) {
                    return Err(Status::not_found(format!(
                        "chunk {} of layer {} of graph {} is not held by this worker",
                        t.chunk, t.layer, t.graph
                    )));
                }
            }
        }
        let state = Sending {
            store: self.store.clone(),
            tasks: tasks.into(),
            pieces: VecDeque::new(),
        };
        // Pieces are cut one chunk at a time, so one chunk's copy is in flight at most.
        let stream = futures::stream::unfold(state, |mut s| async move {
            if s.pieces.is_empty() {
                let task = s.tasks.pop_front()?;
                let chunk = s.store.lock().unwrap().get(&key_of(&task));
                match chunk {
                    Ok(Some(chunk)) => {
                        let mut bytes = Vec::with_capacity(chunk.nbytes());
                        chunk.write_le_bytes(&mut bytes);
                        let raw = RawChunk {
                            task,
                            dtype: chunk.dtype().to_proto(),
                            shape: chunk.shape.clone(),
                            bytes,
                        };
                        s.pieces = to_pieces(raw, kaon_proto::CHUNK_PIECE_BYTES).into();
                    }
                    Ok(None) => {
                        s.tasks.clear();
                        let status = Status::not_found(format!(
                            "chunk {} of layer {} of graph {} was released",
                            task.chunk, task.layer, task.graph
                        ));
                        return Some((Err(status), s));
                    }
                    Err(e) => {
                        s.tasks.clear();
                        return Some((Err(Status::internal(format!("spill read: {e}"))), s));
                    }
                }
            }
            let piece = s.pieces.pop_front()?;
            Some((Ok(piece), s))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

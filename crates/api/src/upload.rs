//! Receiving an uploaded video: streamed to a hidden `.part` file beside the library (never
//! held in memory), checked to be a readable video, then moved to its name in one step that
//! never replaces an existing file. A broken-off or refused upload leaves nothing behind: the
//! partial file is removed when the request ends, however it ends.

use std::path::{Path, PathBuf};

use axum::body::Body;
use futures_util::StreamExt as _;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt as _;

use crate::error::ApiError;
use crate::library::{Entry, Library};
use pigweight_decode::Decoder;

/// Writes are gathered into blocks this large before they go to the disk.
const WRITE_BUFFER: usize = 1 << 20;

/// Streams `body` into a new partial file in `folder`, refusing more than `limit` bytes.
pub(crate) async fn receive(body: Body, folder: &Path, limit: u64) -> Result<TempPath, ApiError> {
    let at = folder.to_owned();
    let partial = tokio::task::spawn_blocking(move || {
        tempfile::Builder::new()
            .prefix(".pigweight-upload-")
            .suffix(".part")
            .tempfile_in(&at)
            .map_err(|e| ApiError::internal(format!("making a file in {}", at.display())).because(e))
    })
    .await
    .map_err(ApiError::join)??;
    let (file, path) = partial.into_parts();
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    let disk = |e: std::io::Error| ApiError::internal("writing an upload").because(e);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("the upload broke off: {e}")))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large(limit));
        }
        out.write_all(&chunk).await.map_err(disk)?;
    }
    if written == 0 {
        return Err(ApiError::bad_file("the upload is empty"));
    }
    out.flush().await.map_err(disk)?;
    out.into_inner().sync_all().await.map_err(disk)?;
    Ok(path)
}

pub(crate) fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!("uploads are limited to {} MiB", limit >> 20))
}

/// Checks a received file (blocking: it is opened as the decoder opens videos, with its
/// limits), gives it its name under `folder` and lists it in the library.
pub(crate) fn finish(
    partial: TempPath,
    decoder: &Decoder,
    library: &Library,
    folder: &Path,
    name: &Path,
) -> Result<Entry, ApiError> {
    decoder
        .opener()
        .open(&partial, decoder.source_config())
        .map_err(|e| ApiError::bad_file(format!("the upload is not a readable video: {e}")))?;
    let dest: PathBuf = folder.join(name);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| ApiError::internal(format!("making {}", parent.display())).because(e))?;
    }
    // Checked again now that the folders exist: nothing on the way may be a link.
    crate::library::ensure_no_links(folder, name)?;
    partial.persist_noclobber(&dest).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            exists(name)
        } else {
            ApiError::internal(format!("moving an upload to {}", dest.display())).because(e.error)
        }
    })?;
    Ok(library.register(name)?.0)
}

pub(crate) fn exists(name: &Path) -> ApiError {
    ApiError::conflict(format!(
        "{} already exists; delete it first or choose another name",
        name.display()
    ))
}

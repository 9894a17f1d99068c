//! File requests: write, read, and the metadata operations (mkdir, delete, move, exists, list).
//!
//! The agent runs inside the sandbox's mount namespace, so every path here (symlinks included)
//! resolves inside the sandbox's own root: confinement needs no path checks of ours.
//!
//! The agent stays single-threaded: file data is read and written with plain blocking calls,
//! one chunk of at most [`MAX_CHUNK_LEN`] at a time (a local read or write of that size is
//! fast), never a whole file. Writes need no credit window: the agent reads the next chunk from
//! the socket only once the previous one is written, so the socket holds the client back.
//! Reads send one chunk per frame and the socket holds the agent back. Opens never block: fifos
//! and devices are refused, so a hostile path cannot stall the agent.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::connection::error;
use crate::protocol::{
    self, AgentMessage, ClientMessage, ErrorCode, FileEntry, FileKind, FileOp, FrameReader,
    MAX_CHUNK_LEN,
};

/// Relative paths resolve against this directory.
const WORKSPACE: &str = "/workspace";

/// A listing batch is sent once its paths add up to this many bytes (or [`BATCH_ENTRIES`]),
/// well under the frame limit.
const BATCH_BYTES: usize = 512 << 10;
const BATCH_ENTRIES: usize = 4096;

/// A failed request: its code and message, sent as the conversation's last frame.
struct Failure(ErrorCode, String);

type Result<T> = std::result::Result<T, Failure>;

fn invalid(message: impl Into<String>) -> Failure {
    Failure(ErrorCode::InvalidRequest, message.into())
}

/// Maps an I/O error on `path` to a reply.
fn io_failure(what: &str, path: &Path, e: &std::io::Error) -> Failure {
    let code = match e.raw_os_error() {
        Some(libc::ENOENT) => ErrorCode::NotFound,
        Some(libc::ENOTDIR) => ErrorCode::NotADirectory,
        Some(libc::EISDIR) => ErrorCode::IsADirectory,
        Some(libc::EEXIST) => ErrorCode::AlreadyExists,
        Some(libc::EACCES | libc::EPERM) => ErrorCode::PermissionDenied,
        _ => match e.kind() {
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::AlreadyExists => ErrorCode::AlreadyExists,
            ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
            _ => ErrorCode::Io,
        },
    };
    let reason = match code {
        ErrorCode::NotFound => "no such file or directory".to_string(),
        _ => e.to_string(),
    };
    Failure(code, format!("cannot {what} {}: {reason}", path.display()))
}

/// The absolute path a request names. Refuses what no file system accepts.
fn resolve(path: &str) -> Result<PathBuf> {
    if path.is_empty() {
        return Err(invalid("empty path"));
    }
    if path.contains('\0') {
        return Err(invalid(format!("path contains a NUL byte: {path:?}")));
    }
    let path = Path::new(path);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(WORKSPACE).join(path)
    };
    // Drops `.` components and repeated slashes (`..` stays: it depends on symlinks).
    Ok(joined.components().collect())
}

async fn reply(writer: &mut OwnedWriteHalf, outbuf: &mut Vec<u8>, result: Result<()>) {
    let msg = match result {
        Ok(()) => AgentMessage::Done,
        Err(Failure(code, message)) => error(code, message),
    };
    let _ = protocol::write_frame(writer, &msg, outbuf).await;
}

/// Serves `WriteFile`: receives `FileData` frames until `FileEnd`.
pub(super) async fn write(
    path: String,
    mode: Option<u32>,
    (mut reader, mut frames): (OwnedReadHalf, FrameReader),
    mut writer: OwnedWriteHalf,
) {
    let mut outbuf = Vec::new();
    let result = receive(&path, mode, &mut reader, &mut frames).await;
    reply(&mut writer, &mut outbuf, result).await;
}

async fn receive(
    path: &str,
    mode: Option<u32>,
    reader: &mut OwnedReadHalf,
    frames: &mut FrameReader,
) -> Result<()> {
    let path = resolve(path)?;
    if mode.is_some_and(|m| m > 0o7777) {
        return Err(invalid(format!(
            "invalid file mode {:o}",
            mode.unwrap_or(0)
        )));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode.unwrap_or(0o644))
        // A fifo without a reader must fail, not block the agent.
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| io_failure("write", &path, &e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_failure("write", &path, &e))?;
    if !meta.is_file() {
        return Err(invalid(format!(
            "cannot write {}: not a regular file",
            path.display()
        )));
    }
    if let Some(mode) = mode {
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| io_failure("set the mode of", &path, &e))?;
    }
    loop {
        let payload = match frames.next(reader).await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return Err(Failure(
                    ErrorCode::BadFrame,
                    "connection closed before the end of the file".into(),
                ))
            }
            Err(e) => return Err(Failure(ErrorCode::BadFrame, crate::error_chain(&e))),
        };
        match protocol::decode::<ClientMessage>(payload) {
            Ok(ClientMessage::FileData(data)) => file
                .write_all(data)
                .map_err(|e| io_failure("write", &path, &e))?,
            Ok(ClientMessage::FileEnd) => return Ok(()),
            Ok(_) => {
                return Err(Failure(
                    ErrorCode::BadFrame,
                    "unexpected message while writing a file".into(),
                ))
            }
            Err(e) => return Err(Failure(ErrorCode::BadFrame, crate::error_chain(&e))),
        }
    }
}

/// Serves `ReadFile`: streams the file as `FileData` frames, then `Done`.
pub(super) async fn read(path: String, mut writer: OwnedWriteHalf) {
    let mut outbuf = Vec::new();
    let mut file = match open_for_reading(&path) {
        Ok(opened) => opened,
        Err(failure) => return reply(&mut writer, &mut outbuf, Err(failure)).await,
    };
    let mut buf = vec![0u8; MAX_CHUNK_LEN];
    loop {
        let n = match file.1.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return reply(
                    &mut writer,
                    &mut outbuf,
                    Err(io_failure("read", &file.0, &e)),
                )
                .await
            }
        };
        let msg = AgentMessage::FileData(&buf[..n]);
        if protocol::write_frame(&mut writer, &msg, &mut outbuf)
            .await
            .is_err()
        {
            // The client is gone.
            return;
        }
    }
    reply(&mut writer, &mut outbuf, Ok(())).await;
}

fn open_for_reading(path: &str) -> Result<(PathBuf, File)> {
    let path = resolve(path)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| io_failure("read", &path, &e))?;
    let meta = file.metadata().map_err(|e| io_failure("read", &path, &e))?;
    if meta.is_dir() {
        return Err(Failure(
            ErrorCode::IsADirectory,
            format!("cannot read {}: it is a directory", path.display()),
        ));
    }
    if !meta.is_file() {
        return Err(invalid(format!(
            "cannot read {}: not a regular file",
            path.display()
        )));
    }
    Ok((path, file))
}

/// Serves a metadata operation.
pub(super) async fn op(op: FileOp, mut writer: OwnedWriteHalf) {
    let mut outbuf = Vec::new();
    let result = match op {
        FileOp::Mkdir { path, recursive } => mkdir(&path, recursive),
        FileOp::Delete { path, recursive } => delete(&path, recursive),
        FileOp::Move { from, to } => move_path(&from, &to),
        FileOp::Exists { path } => match resolve(&path) {
            Ok(path) => {
                let exists = fs::symlink_metadata(path).is_ok();
                let msg = AgentMessage::Exists(exists);
                let _ = protocol::write_frame(&mut writer, &msg, &mut outbuf).await;
                return;
            }
            Err(failure) => Err(failure),
        },
        FileOp::List {
            path,
            recursive,
            include_hidden,
        } => list(&path, recursive, include_hidden, &mut writer, &mut outbuf).await,
    };
    reply(&mut writer, &mut outbuf, result).await;
}

fn mkdir(path: &str, recursive: bool) -> Result<()> {
    let path = resolve(path)?;
    let made = if recursive {
        fs::create_dir_all(&path)
    } else {
        fs::create_dir(&path)
    };
    made.map_err(|e| io_failure("create directory", &path, &e))
}

fn delete(path: &str, recursive: bool) -> Result<()> {
    let path = resolve(path)?;
    if path.parent().is_none() {
        return Err(invalid("refusing to delete /"));
    }
    let meta = fs::symlink_metadata(&path).map_err(|e| io_failure("delete", &path, &e))?;
    let deleted = if !meta.is_dir() {
        fs::remove_file(&path)
    } else if recursive {
        // std's remove_dir_all never follows symlinks.
        fs::remove_dir_all(&path)
    } else {
        return Err(Failure(
            ErrorCode::IsADirectory,
            format!(
                "cannot delete {}: it is a directory (delete it recursively)",
                path.display()
            ),
        ));
    };
    deleted.map_err(|e| io_failure("delete", &path, &e))
}

fn move_path(from: &str, to: &str) -> Result<()> {
    let from = resolve(from)?;
    let to = resolve(to)?;
    match fs::rename(&from, &to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            // Different file systems (e.g. /tmp and /workspace): copy, then delete.
            let meta = fs::symlink_metadata(&from).map_err(|e| io_failure("move", &from, &e))?;
            if meta.is_dir() && fs::symlink_metadata(&to).is_ok() {
                return Err(Failure(
                    ErrorCode::AlreadyExists,
                    format!(
                        "cannot move {} over {}: it exists",
                        from.display(),
                        to.display()
                    ),
                ));
            }
            copy_tree(&from, &to)?;
            let removed = if meta.is_dir() {
                fs::remove_dir_all(&from)
            } else {
                fs::remove_file(&from)
            };
            removed.map_err(|e| io_failure("remove the moved", &from, &e))
        }
        Err(e) => Err(io_failure("move", &from, &e)),
    }
}

/// Copies `from` to `to` (files with their mode, symlinks as symlinks, directories with
/// everything in them), without recursion.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        let meta = fs::symlink_metadata(&src).map_err(|e| io_failure("copy", &src, &e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst).map_err(|e| io_failure("create directory", &dst, &e))?;
            fs::set_permissions(&dst, meta.permissions())
                .map_err(|e| io_failure("set the mode of", &dst, &e))?;
            let entries = fs::read_dir(&src).map_err(|e| io_failure("list", &src, &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io_failure("list", &src, &e))?;
                stack.push((entry.path(), dst.join(entry.file_name())));
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| io_failure("read link", &src, &e))?;
            let _ = fs::remove_file(&dst);
            std::os::unix::fs::symlink(target, &dst)
                .map_err(|e| io_failure("create link", &dst, &e))?;
        } else if ft.is_file() {
            copy_file(&src, &dst, &meta)?;
        } else {
            return Err(invalid(format!(
                "cannot move {} across file systems: not a regular file, directory or symlink",
                src.display()
            )));
        }
    }
    Ok(())
}

/// Copies one regular file chunk by chunk (never the whole file in memory).
fn copy_file(src: &Path, dst: &Path, meta: &fs::Metadata) -> Result<()> {
    let mut input = File::open(src).map_err(|e| io_failure("copy", src, &e))?;
    let mut output = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dst)
        .map_err(|e| io_failure("copy to", dst, &e))?;
    let mut buf = vec![0u8; MAX_CHUNK_LEN];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure("copy", src, &e)),
        };
        output
            .write_all(&buf[..n])
            .map_err(|e| io_failure("copy to", dst, &e))?;
    }
    output
        .set_permissions(meta.permissions())
        .map_err(|e| io_failure("set the mode of", dst, &e))
}

async fn list(
    path: &str,
    recursive: bool,
    include_hidden: bool,
    writer: &mut OwnedWriteHalf,
    outbuf: &mut Vec<u8>,
) -> Result<()> {
    let root = resolve(path)?;
    let meta = fs::metadata(&root).map_err(|e| io_failure("list", &root, &e))?;
    if !meta.is_dir() {
        return Err(Failure(
            ErrorCode::NotADirectory,
            format!("cannot list {}: not a directory", root.display()),
        ));
    }
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // The top directory's failure is the request's; deeper ones are skipped.
            Err(e) if dir == root => return Err(io_failure("list", &dir, &e)),
            Err(_) => continue,
        };
        let mut children: Vec<_> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                include_hidden || !entry.file_name().as_encoded_bytes().starts_with(b".")
            })
            .collect();
        children.sort_by_key(|entry| entry.file_name());
        let mut subdirs = Vec::new();
        for entry in children {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                FileKind::Dir
            } else if ft.is_symlink() {
                FileKind::Symlink
            } else if ft.is_file() {
                FileKind::File
            } else {
                FileKind::Other
            };
            if recursive && kind == FileKind::Dir {
                subdirs.push(path.clone());
            }
            let path = path.to_string_lossy().into_owned();
            batch_bytes += path.len() + 32;
            batch.push(FileEntry {
                path,
                kind,
                size: meta.size(),
                mode: meta.mode() & 0o7777,
                modified_secs: meta.mtime(),
                modified_nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
            });
            if batch_bytes >= BATCH_BYTES || batch.len() >= BATCH_ENTRIES {
                send_batch(&mut batch, writer, outbuf).await?;
                batch_bytes = 0;
            }
        }
        // Popped in name order.
        dirs.extend(subdirs.into_iter().rev());
    }
    if !batch.is_empty() {
        send_batch(&mut batch, writer, outbuf).await?;
    }
    Ok(())
}

async fn send_batch(
    batch: &mut Vec<FileEntry>,
    writer: &mut OwnedWriteHalf,
    outbuf: &mut Vec<u8>,
) -> Result<()> {
    let msg = AgentMessage::Entries(std::mem::take(batch));
    protocol::write_frame(writer, &msg, outbuf)
        .await
        .map_err(|e| Failure(ErrorCode::Io, crate::error_chain(&e)))
}

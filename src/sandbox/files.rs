//! Files inside a sandbox: write, read (whole or streamed), mkdir, delete, move, exists, list.
//!
//! Every path resolves inside the sandbox's own root (the agent that serves these requests
//! lives in the sandbox's mount namespace, so even a symlink to `/` reaches only the sandbox's
//! root). Relative paths resolve against `/workspace`. File contents travel in chunks of at most
//! [`MAX_CHUNK_LEN`], so neither side holds a whole file unless the caller asks for one.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::UnixStream;

use super::{Error, Sandbox};
pub use crate::protocol::FileKind;
use crate::protocol::{
    self, AgentMessage, ClientMessage, FileEntry, FileOp, FrameReader, ProtocolError, MAX_CHUNK_LEN,
};

/// One entry of [`Sandbox::list_files`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// The last path component.
    pub name: String,
    /// Absolute path inside the sandbox.
    pub path: String,
    /// File, directory, symlink (never followed) or other.
    pub kind: FileKind,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
    /// Last modification.
    pub modified: DateTime<Utc>,
}

impl FileInfo {
    fn from_entry(entry: FileEntry) -> Self {
        let name = entry
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let modified = Utc
            .timestamp_opt(entry.modified_secs, entry.modified_nanos)
            .single()
            .unwrap_or_default();
        Self {
            name,
            path: entry.path,
            kind: entry.kind,
            size: entry.size,
            mode: entry.mode,
            modified,
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
}

/// A file being read in chunks, from [`Sandbox::read_file_stream`]. Dropping it stops the read.
pub struct FileReadStream {
    conn: Conn,
    /// The first chunk, read early to report a missing file from `read_file_stream` itself.
    first: Option<Vec<u8>>,
    done: bool,
}

impl FileReadStream {
    /// The next chunk (at most [`MAX_CHUNK_LEN`] bytes), or `None` at the end of the file.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>, Error>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        if self.done {
            return None;
        }
        let chunk = match self.conn.next_reply().await {
            Ok(Reply::Data(data)) => Some(Ok(data)),
            Ok(Reply::Done) => None,
            Ok(_) => Some(Err(self.conn.unexpected("sent a reply out of place"))),
            Err(e) => Some(Err(e)),
        };
        if !matches!(chunk, Some(Ok(_))) {
            self.done = true;
        }
        chunk
    }
}

/// One file conversation with the agent.
struct Conn {
    id: String,
    path: String,
    stream: UnixStream,
    frames: FrameReader,
    buf: Vec<u8>,
}

/// An owned agent reply.
enum Reply {
    Data(Vec<u8>),
    Entries(Vec<FileEntry>),
    Exists(bool),
    Done,
}

impl Conn {
    async fn open(
        sandbox: &Sandbox,
        path: &str,
        request: ClientMessage<'_>,
    ) -> Result<Self, Error> {
        let (stream, frames) = sandbox.inner.open(&request).await?;
        Ok(Self {
            id: sandbox.id().to_string(),
            path: path.to_string(),
            stream,
            frames,
            buf: Vec::new(),
        })
    }

    fn protocol(&self, source: ProtocolError) -> Error {
        Error::Protocol {
            id: self.id.clone(),
            source,
        }
    }

    fn unexpected(&self, what: &'static str) -> Error {
        Error::UnexpectedReply {
            id: self.id.clone(),
            what,
        }
    }

    async fn next_reply(&mut self) -> Result<Reply, Error> {
        let payload = match self.frames.next(&mut self.stream).await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return Err(Error::UnexpectedReply {
                    id: self.id.clone(),
                    what: "closed the connection before the file request completed",
                })
            }
            Err(source) => {
                return Err(Error::Protocol {
                    id: self.id.clone(),
                    source,
                })
            }
        };
        match protocol::decode::<AgentMessage>(payload) {
            Ok(AgentMessage::FileData(data)) => Ok(Reply::Data(data.to_vec())),
            Ok(AgentMessage::Entries(entries)) => Ok(Reply::Entries(entries)),
            Ok(AgentMessage::Exists(exists)) => Ok(Reply::Exists(exists)),
            Ok(AgentMessage::Done) => Ok(Reply::Done),
            Ok(AgentMessage::Error { code, message }) => Err(Error::File {
                id: self.id.clone(),
                path: self.path.clone(),
                code,
                message,
            }),
            Ok(_) => Err(self.unexpected("sent a reply out of place")),
            Err(source) => Err(Error::Protocol {
                id: self.id.clone(),
                source,
            }),
        }
    }

    /// Waits for `Done`.
    async fn done(&mut self) -> Result<(), Error> {
        match self.next_reply().await? {
            Reply::Done => Ok(()),
            _ => Err(self.unexpected("sent a reply out of place")),
        }
    }

    async fn send(&mut self, msg: &ClientMessage<'_>) -> Result<(), ProtocolError> {
        protocol::write_frame(&mut self.stream, msg, &mut self.buf).await
    }

    /// After a failed send: the agent refused the write and closed; its reason is waiting.
    async fn reason(&mut self, source: ProtocolError) -> Error {
        match self.next_reply().await {
            Err(e @ Error::File { .. }) => e,
            _ => self.protocol(source),
        }
    }
}

impl Sandbox {
    async fn open_write(&self, path: &str, mode: Option<u32>) -> Result<Conn, Error> {
        let request = ClientMessage::WriteFile {
            path: path.to_string(),
            mode,
        };
        Conn::open(self, path, request).await
    }

    /// Writes `data` to the file at `path` (created or truncated), setting `mode` if given
    /// (new files are `0o644` otherwise). The parent directory must exist.
    pub async fn write_file(
        &self,
        path: &str,
        data: impl AsRef<[u8]>,
        mode: Option<u32>,
    ) -> Result<(), Error> {
        let mut conn = self.open_write(path, mode).await?;
        for chunk in data.as_ref().chunks(MAX_CHUNK_LEN) {
            if let Err(source) = conn.send(&ClientMessage::FileData(chunk)).await {
                return Err(conn.reason(source).await);
            }
        }
        finish_write(&mut conn).await
    }

    /// Writes everything `reader` yields to the file at `path`, one chunk at a time (for files
    /// too large to hold in memory); returns the number of bytes written. A failed or dropped
    /// write may leave a partial file behind.
    pub async fn write_file_from<R: AsyncRead + Unpin>(
        &self,
        path: &str,
        mut reader: R,
        mode: Option<u32>,
    ) -> Result<u64, Error> {
        let mut conn = self.open_write(path, mode).await?;
        let mut buf = vec![0u8; MAX_CHUNK_LEN];
        let mut total = 0u64;
        loop {
            // Fill the chunk: fewer, larger frames.
            let mut filled = 0;
            while filled < buf.len() {
                let n = reader
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|source| Error::Source {
                        id: self.id().to_string(),
                        path: path.to_string(),
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            total += filled as u64;
            if let Err(source) = conn.send(&ClientMessage::FileData(&buf[..filled])).await {
                return Err(conn.reason(source).await);
            }
        }
        finish_write(&mut conn).await?;
        Ok(total)
    }

    /// The whole contents of the file at `path` (no size cap: it is streamed in chunks and
    /// gathered here).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        let mut stream = self.read_file_stream(path).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    /// The file at `path` as UTF-8 text; `INVALID_REQUEST` if it is not valid UTF-8.
    pub async fn read_file_text(&self, path: &str) -> Result<String, Error> {
        let bytes = self.read_file(path).await?;
        String::from_utf8(bytes).map_err(|_| Error::File {
            id: self.id().to_string(),
            path: path.to_string(),
            code: protocol::ErrorCode::InvalidRequest,
            message: format!("{path} is not valid UTF-8 text"),
        })
    }

    /// The file at `path` as a stream of chunks, for files too large to hold in memory. A
    /// missing file fails here, before the first chunk.
    pub async fn read_file_stream(&self, path: &str) -> Result<FileReadStream, Error> {
        let mut conn = Conn::open(
            self,
            path,
            ClientMessage::ReadFile {
                path: path.to_string(),
            },
        )
        .await?;
        // The first reply tells a missing file from an existing one.
        let (first, done) = match conn.next_reply().await? {
            Reply::Data(data) => (Some(data), false),
            Reply::Done => (None, true),
            _ => return Err(conn.unexpected("sent a reply out of place")),
        };
        Ok(FileReadStream { conn, first, done })
    }

    /// Creates directory `path`; with `recursive`, also its missing parents, and an existing
    /// directory is fine (like `mkdir -p`).
    pub async fn mkdir(&self, path: &str, recursive: bool) -> Result<(), Error> {
        let op = FileOp::Mkdir {
            path: path.to_string(),
            recursive,
        };
        Conn::open(self, path, ClientMessage::File(op))
            .await?
            .done()
            .await
    }

    /// Deletes the file or symlink at `path`; a directory only with `recursive` (and then with
    /// everything in it; symlinks inside are removed, never followed).
    pub async fn delete_file(&self, path: &str, recursive: bool) -> Result<(), Error> {
        let op = FileOp::Delete {
            path: path.to_string(),
            recursive,
        };
        Conn::open(self, path, ClientMessage::File(op))
            .await?
            .done()
            .await
    }

    /// Moves `from` to `to` (a file at `to` is replaced). Across file systems (e.g. `/tmp` and
    /// `/workspace`) the agent copies, then deletes the source.
    pub async fn move_file(&self, from: &str, to: &str) -> Result<(), Error> {
        let op = FileOp::Move {
            from: from.to_string(),
            to: to.to_string(),
        };
        Conn::open(self, from, ClientMessage::File(op))
            .await?
            .done()
            .await
    }

    /// Renames `from` to `to`; the same as [`Sandbox::move_file`].
    pub async fn rename_file(&self, from: &str, to: &str) -> Result<(), Error> {
        self.move_file(from, to).await
    }

    /// Whether something (a file, directory, or symlink, even a dangling one) is at `path`.
    pub async fn exists(&self, path: &str) -> Result<bool, Error> {
        let op = FileOp::Exists {
            path: path.to_string(),
        };
        let mut conn = Conn::open(self, path, ClientMessage::File(op)).await?;
        match conn.next_reply().await? {
            Reply::Exists(exists) => Ok(exists),
            _ => Err(conn.unexpected("sent a reply out of place")),
        }
    }

    /// The entries of directory `path`, sorted by name within each directory; with `recursive`,
    /// also those below it (symlinked directories are listed, not entered); names starting
    /// with `.` (and what is below them) only with `include_hidden`.
    pub async fn list_files(
        &self,
        path: &str,
        recursive: bool,
        include_hidden: bool,
    ) -> Result<Vec<FileInfo>, Error> {
        let op = FileOp::List {
            path: path.to_string(),
            recursive,
            include_hidden,
        };
        let mut conn = Conn::open(self, path, ClientMessage::File(op)).await?;
        let mut out = Vec::new();
        loop {
            match conn.next_reply().await? {
                Reply::Entries(entries) => {
                    out.extend(entries.into_iter().map(FileInfo::from_entry))
                }
                Reply::Done => return Ok(out),
                _ => return Err(conn.unexpected("sent a reply out of place")),
            }
        }
    }
}

async fn finish_write(conn: &mut Conn) -> Result<(), Error> {
    if let Err(source) = conn.send(&ClientMessage::FileEnd).await {
        return Err(conn.reason(source).await);
    }
    conn.done().await
}

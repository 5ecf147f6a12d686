//! The sans-IO core both stores share: cutting a byte stream into chunks while hashing
//! it ([`Chunker`]), checking chunks read back against the object's info
//! ([`ChunkVerifier`]), the bounded ack window of a put ([`window`]) and the initial
//! values of a watch ([`InitialValues`]). No IO, no clock: the blocking and async
//! drivers feed bytes in and take chunks out.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use sha2::{Digest as _, Sha256};

use super::error::ObjectError;
use super::info::{format_digest, parse_digest, ObjectInfo};

/// Chunk acks a put keeps in flight. With 128 KiB chunks that is 4 MiB queued or on the
/// wire at most: enough to keep a local server busy, small enough that a 1 GiB put stays
/// in a few MiB (the object is never held whole).
pub(crate) const PUT_WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// Allocations of taken chunks a [`Chunker`] keeps for reuse: the client writes a chunk
/// out long before this many more were cut, and at 128 KiB chunks at most 1 MiB stays
/// allocated after a put for it.
const SPARE_CHUNKS: usize = 8;

/// The chunk acks in flight for `chunk_size`: [`PUT_WINDOW_BYTES`] worth, 2 to 256.
pub(crate) fn window(chunk_size: u32) -> usize {
    (PUT_WINDOW_BYTES / (chunk_size.max(1) as usize)).clamp(2, 256)
}

/// The pull batch of a get for `chunk_size`: 8 MiB worth of chunks, 2 to 500 (the
/// ordered consumer's default), so a get buffers a few MiB, not 500 chunks.
pub(crate) fn get_batch(chunk_size: u32) -> usize {
    (8 * 1024 * 1024 / (chunk_size.max(1) as usize)).clamp(2, 500)
}

/// Cuts what is read into chunks of `chunk_size` and hashes them. The driver reads into
/// [`spare`](Chunker::spare), reports with [`filled`](Chunker::filled), and publishes
/// what [`take`](Chunker::take) returns when the chunk is full or the input ended.
#[derive(Debug)]
pub(crate) struct Chunker {
    chunk_size: usize,
    /// The current chunk: `chunk_size` long once allocated, `len` bytes of it filled.
    buf: BytesMut,
    len: usize,
    /// Emptied handles on the allocations of chunks already taken, oldest first. Once the
    /// client has written a chunk and dropped it, its allocation is unique again and the
    /// next chunk reuses it: a fresh 128 KiB per chunk cost page faults and an unmap
    /// each time, a quarter of a put's CPU besides the hash in `perf`.
    spares: VecDeque<BytesMut>,
    hasher: Sha256,
    size: u64,
    chunks: u64,
}

impl Chunker {
    pub(crate) fn new(chunk_size: u32) -> Self {
        Chunker {
            chunk_size: chunk_size.max(1) as usize,
            buf: BytesMut::new(),
            len: 0,
            spares: VecDeque::with_capacity(SPARE_CHUNKS),
            hasher: Sha256::new(),
            size: 0,
            chunks: 0,
        }
    }

    /// Where to read the next bytes: the rest of the current chunk (never empty).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = self
                .reuse()
                .unwrap_or_else(|| BytesMut::zeroed(self.chunk_size));
        }
        &mut self.buf[self.len..]
    }

    /// `n` bytes of [`spare`](Self::spare) were filled (0: the input ended).
    pub(crate) fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// A chunk buffer on an allocation no taken chunk uses any more, zeroed to the chunk
    /// size (`Read::read` wants initialised bytes; a `memset` of memory already mapped
    /// costs far less than fresh pages).
    fn reuse(&mut self) -> Option<BytesMut> {
        let chunk_size = self.chunk_size;
        let i = self
            .spares
            .iter_mut()
            .position(|s| s.try_reclaim(chunk_size))?;
        let mut buf = self.spares.remove(i)?;
        buf.resize(chunk_size, 0);
        Some(buf)
    }

    /// True when the current chunk is full.
    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.chunk_size
    }

    /// The current chunk, hashed and counted; `None` if it is empty.
    pub(crate) fn take(&mut self) -> Option<Bytes> {
        if self.len == 0 {
            return None;
        }
        let chunk = self.buf.split_to(self.len).freeze();
        self.len = 0;
        let mut handle = std::mem::take(&mut self.buf);
        handle.clear();
        if self.spares.len() == SPARE_CHUNKS {
            self.spares.pop_front();
        }
        self.spares.push_back(handle);
        self.hasher.update(&chunk);
        self.size += chunk.len() as u64;
        self.chunks += 1;
        Some(chunk)
    }

    /// Size, chunk count and `SHA-256=` digest of everything taken.
    pub(crate) fn finish(self) -> (u64, u64, String) {
        (
            self.size,
            self.chunks,
            format_digest(&self.hasher.finalize()),
        )
    }
}

/// Checks the chunks of a get against the object's info: count, size and digest.
#[derive(Debug)]
pub(crate) struct ChunkVerifier {
    hasher: Sha256,
    expected_size: u64,
    expected_chunks: u64,
    expected_digest: Option<(String, [u8; 32])>,
    size: u64,
    chunks: u64,
    done: bool,
}

impl ChunkVerifier {
    /// A verifier for the object `info` describes; fails on a malformed digest.
    pub(crate) fn new(info: &ObjectInfo) -> Result<Self, ObjectError> {
        let expected_digest = match &info.digest {
            Some(d) if !d.is_empty() => Some((d.clone(), parse_digest(d)?)),
            _ => None,
        };
        Ok(ChunkVerifier {
            hasher: Sha256::new(),
            expected_size: info.size,
            expected_chunks: info.chunks,
            expected_digest,
            size: 0,
            chunks: 0,
            done: false,
        })
    }

    /// True once every chunk was checked.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// A chunk arrived, with `pending` more after it on the chunk subject. Returns true
    /// when it was the last and everything matched; an error when something does not.
    pub(crate) fn handle_chunk(&mut self, data: &[u8], pending: u64) -> Result<bool, ObjectError> {
        self.chunks += 1;
        self.size += data.len() as u64;
        if self.chunks > self.expected_chunks {
            return Err(ObjectError::ChunkCountMismatch {
                expected: self.expected_chunks,
                actual: self.chunks + pending,
            });
        }
        if self.size > self.expected_size {
            return Err(ObjectError::SizeMismatch {
                expected: self.expected_size,
                actual: self.size,
            });
        }
        self.hasher.update(data);
        if pending == 0 {
            self.finish()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// No more chunks: checks count, size and digest.
    pub(crate) fn finish(&mut self) -> Result<(), ObjectError> {
        self.done = true;
        if self.chunks != self.expected_chunks {
            return Err(ObjectError::ChunkCountMismatch {
                expected: self.expected_chunks,
                actual: self.chunks,
            });
        }
        if self.size != self.expected_size {
            return Err(ObjectError::SizeMismatch {
                expected: self.expected_size,
                actual: self.size,
            });
        }
        let sum = std::mem::take(&mut self.hasher).finalize();
        if let Some((text, want)) = &self.expected_digest {
            if sum[..] != want[..] {
                return Err(ObjectError::DigestMismatch {
                    expected: text.clone(),
                    actual: format_digest(&sum),
                });
            }
        }
        Ok(())
    }
}

/// The chunk being read out by a reader: what is left of it.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    chunk: Bytes,
}

impl ReadBuffer {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunk.is_empty()
    }

    pub(crate) fn set(&mut self, chunk: Bytes) {
        self.chunk = chunk;
    }

    /// Copies as much as fits into `out`; returns the count.
    pub(crate) fn read_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        n
    }

    /// The rest of the chunk, taken.
    pub(crate) fn take(&mut self) -> Bytes {
        std::mem::take(&mut self.chunk)
    }
}

/// When a watch's initial values are over: from the first consumer's pending count and
/// each info's pending count (as the KV watch does).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InitialValues {
    done: bool,
    marker_due: bool,
}

impl InitialValues {
    pub(crate) fn new(pending: u64, updates_only: bool) -> Self {
        let empty = pending == 0 || updates_only;
        InitialValues {
            done: empty,
            marker_due: empty,
        }
    }

    /// An info with `pending` more after it was delivered.
    pub(crate) fn handle_info(&mut self, pending: u64) {
        if !self.done && pending == 0 {
            self.done = true;
            self.marker_due = true;
        }
    }

    /// The marker, once, when due.
    pub(crate) fn poll_marker(&mut self) -> bool {
        std::mem::take(&mut self.marker_due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_of(data: &[u8], chunk: u32) -> ObjectInfo {
        let mut c = Chunker::new(chunk);
        let mut input = data;
        let mut chunks = 0;
        loop {
            let spare = c.spare();
            let n = spare.len().min(input.len());
            spare[..n].copy_from_slice(&input[..n]);
            input = &input[n..];
            c.filled(n);
            if (c.is_full() || n == 0) && c.take().is_some() {
                chunks += 1;
            }
            if n == 0 {
                break;
            }
        }
        let (size, count, digest) = c.finish();
        assert_eq!(count, chunks);
        let json = format!(
            r#"{{"name":"x","bucket":"b","nuid":"n","size":{size},"chunks":{count},
            "mtime":"2024-01-01T00:00:00Z","digest":"{digest}"}}"#
        );
        ObjectInfo::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn chunks_are_cut_at_the_size_and_counted() {
        assert_eq!(info_of(b"", 4).chunks, 0);
        assert_eq!(info_of(b"abc", 4).chunks, 1);
        let exact = info_of(b"abcdefgh", 4);
        assert_eq!((exact.chunks, exact.size), (2, 8));
        assert_eq!(info_of(b"abcdefghi", 4).chunks, 3);
    }

    #[test]
    fn the_verifier_accepts_the_object_and_rejects_changes() {
        let info = info_of(b"abcdefghi", 4);
        let mut v = ChunkVerifier::new(&info).unwrap();
        assert!(!v.handle_chunk(b"abcd", 2).unwrap());
        assert!(!v.handle_chunk(b"efgh", 1).unwrap());
        assert!(v.handle_chunk(b"i", 0).unwrap());
        assert!(v.is_done());

        let mut v = ChunkVerifier::new(&info).unwrap();
        v.handle_chunk(b"abcd", 2).unwrap();
        v.handle_chunk(b"efgX", 1).unwrap();
        assert!(matches!(
            v.handle_chunk(b"i", 0),
            Err(ObjectError::DigestMismatch { .. })
        ));

        let mut v = ChunkVerifier::new(&info).unwrap();
        assert!(matches!(
            v.handle_chunk(b"abcd", 0),
            Err(ObjectError::ChunkCountMismatch {
                expected: 3,
                actual: 1
            })
        ));

        let mut v = ChunkVerifier::new(&info).unwrap();
        v.handle_chunk(b"abcd", 3).unwrap();
        v.handle_chunk(b"efgh", 2).unwrap();
        v.handle_chunk(b"i", 1).unwrap();
        assert!(matches!(
            v.handle_chunk(b"j", 0),
            Err(ObjectError::ChunkCountMismatch { expected: 3, .. })
        ));

        let mut v = ChunkVerifier::new(&info).unwrap();
        assert!(matches!(
            v.handle_chunk(&[0; 10], 2),
            Err(ObjectError::SizeMismatch { .. })
        ));
        // An empty object: nothing to read, the digest of nothing.
        let empty = info_of(b"", 4);
        assert!(ChunkVerifier::new(&empty).unwrap().finish().is_ok());
    }

    #[test]
    fn a_chunk_buffer_is_reused_once_the_client_dropped_the_chunk() {
        let mut c = Chunker::new(4);
        c.spare().copy_from_slice(b"abcd");
        c.filled(4);
        let first = c.take().unwrap();
        let first_ptr = first.as_ptr();
        // Still held (on its way to the server): the next chunk needs another allocation.
        c.spare().copy_from_slice(b"efgh");
        c.filled(4);
        let second = c.take().unwrap();
        assert_ne!(second.as_ptr(), first_ptr);
        assert_eq!((&first[..], &second[..]), (&b"abcd"[..], &b"efgh"[..]));
        // Written and dropped: its allocation comes back, zeroed to the chunk size.
        drop(first);
        let spare = c.spare();
        assert_eq!((spare.as_ptr(), &spare[..]), (first_ptr, &[0u8; 4][..]));
        spare[..2].copy_from_slice(b"ij");
        c.filled(2);
        let third = c.take().unwrap();
        assert_eq!((&third[..], &second[..]), (&b"ij"[..], &b"efgh"[..]));
        let (size, chunks, _) = c.finish();
        assert_eq!((size, chunks), (10, 3));
    }

    #[test]
    fn windows_are_bounded() {
        assert_eq!(window(128 * 1024), 32);
        assert_eq!(window(1), 256);
        assert_eq!(window(u32::MAX), 2);
        assert_eq!(get_batch(128 * 1024), 64);
    }
}

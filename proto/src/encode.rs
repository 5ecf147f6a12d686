//! The encoder: client ops written into an [`OutQueue`] for vectored writes.
//!
//! This module owns the bytes a client sends: the exact wire form of `CONNECT`, `PUB`,
//! `HPUB`, `SUB`, `UNSUB`, `PING` and `PONG` (strict CRLF, single spaces; digest §1.2), the
//! client-side checks that must pass before anything is written, and the queue that holds
//! the bytes until the socket takes them.
//!
//! # The queue
//!
//! Small writes are coalesced into one [`BytesMut`]. A payload of [`CHAIN_THRESHOLD`] bytes
//! or more is not copied: the coalescing buffer is frozen into a segment and the payload's
//! own [`Bytes`] is chained after it. A writer asks for [`OutQueue::io_slices`], hands them
//! to `write_vectored`, and reports what was written with [`OutQueue::advance`].
//!
//! In steady state publishing allocates nothing and copies each byte once: integers are
//! formatted by hand, space is reserved once per op, and once the queue drains the
//! buffer's allocation is reused. A buffer that fills up while its bytes still wait for
//! the socket is chained as a segment rather than grown (growing would copy them), and its
//! allocation is reused once the writer is done with it.
//!
//! ```
//! use std::io::IoSlice;
//! use bytes::Bytes;
//! use natsy_proto::OutQueue;
//!
//! let mut q = OutQueue::new();
//! q.publish("orders.new", None, None, Bytes::from_static(b"hi"), Some(1 << 20)).unwrap();
//! q.ping();
//!
//! let mut slices = [IoSlice::new(&[]); 8];
//! let n = q.io_slices(&mut slices);
//! let wire: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
//! assert_eq!(wire, b"PUB orders.new 2\r\nhi\r\nPING\r\n");
//!
//! q.advance(wire.len()); // the socket took everything
//! assert!(q.is_empty());
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::ValidationError;
use crate::headers::HeaderMap;
use crate::info::ConnectInfo;
use crate::message::Sid;
use crate::subject::{
    validate_publish_subject, validate_queue, validate_reply, validate_subscribe_subject,
};

/// Payloads of at least this many bytes (4 KiB) are chained as their own segment instead of
/// being copied into the coalescing buffer.
///
/// Below it, one `memcpy` is cheaper than an extra `IoSlice` and segment bookkeeping.
pub const CHAIN_THRESHOLD: usize = 4096;

/// The size of a new coalescing buffer (64 KiB): a socket write's worth of small ops.
const COALESCE_CHUNK: usize = 64 * 1024;

/// How many sealed buffers `OutQueue` keeps for reuse.
const MAX_SPARES: usize = 8;

/// The most digits a `u64` has in decimal.
const MAX_DIGITS: usize = 20;

/// A `u64` formatted as decimal ASCII on the stack; no allocation, no `fmt` machinery.
///
/// The digits sit at the front of `digits`. Numbers below 10^8 (every payload size) are
/// built in a register and stored with one 8-byte write: writing them byte by byte and
/// then copying them out as a wider word stalled store forwarding, which perf showed as a
/// third of `OutQueue::publish`.
struct Decimal {
    /// `b' '`, the digits, then CR LF: so a PUB's size goes out with its separator and
    /// line end in one append.
    bytes: [u8; MAX_DIGITS + 3],
    len: usize,
}

impl Decimal {
    #[inline]
    fn new(n: u64) -> Self {
        let mut bytes = [0u8; MAX_DIGITS + 3];
        bytes[0] = b' ';
        let len = if n < 100_000_000 {
            // Least significant digit first into the high end: after the loop the most
            // significant digit is the lowest byte, so little-endian bytes read in order.
            let (mut n, mut word, mut len) = (n, 0u64, 0usize);
            loop {
                word = (word << 8) | (b'0' + (n % 10) as u8) as u64;
                len += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if let Some(front) = bytes.get_mut(1..9) {
                front.copy_from_slice(&word.to_le_bytes());
            }
            len
        } else {
            let mut digits = [0u8; MAX_DIGITS];
            let mut n = n;
            let mut start = MAX_DIGITS;
            // A u64 has at most 20 digits, so `start` never goes below 0.
            while start > 0 {
                start -= 1;
                digits[start] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let len = MAX_DIGITS - start;
            if let (Some(dst), Some(src)) = (bytes.get_mut(1..1 + len), digits.get(start..)) {
                dst.copy_from_slice(src);
            }
            len
        };
        if let Some(end) = bytes.get_mut(1 + len..3 + len) {
            end.copy_from_slice(b"\r\n");
        }
        Decimal { bytes, len }
    }

    /// The digits.
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(1..1 + self.len).unwrap_or_default()
    }

    /// A space, then the digits.
    #[inline]
    fn spaced(&self) -> &[u8] {
        self.bytes.get(..1 + self.len).unwrap_or_default()
    }

    /// A space, the digits, CR LF: the end of a PUB/HPUB line.
    #[inline]
    fn line_end(&self) -> &[u8] {
        self.bytes.get(..3 + self.len).unwrap_or_default()
    }
}

/// Spare capacity `append_short` and the short line end may write past what they keep.
const SHORT_SLACK: usize = 16;

/// Appends `src`. Up to 32 bytes are copied as two overlapping fixed-size chunks (16, 8 or
/// 4 bytes), which the compiler turns into a few register moves; longer slices go through
/// `extend_from_slice`, i.e. `memcpy`.
///
/// Why: in `perf` of a 16-byte publisher, the out-of-line `memcpy` calls for the subject
/// and the payload were 13% of the client's CPU. The overlap is written twice: the first
/// chunk is appended whole, `truncate` steps back so the second chunk ends exactly at the
/// end of `src`. Only safe `BytesMut` calls; a short capacity just makes the append reserve.
#[inline(always)]
fn append_short(buf: &mut BytesMut, src: &[u8]) {
    #[inline(always)]
    fn two<const N: usize>(buf: &mut BytesMut, head: &[u8; N], tail: &[u8; N], n: usize) {
        let start = buf.len();
        buf.extend_from_slice(head);
        buf.truncate(start + n - N);
        buf.extend_from_slice(tail);
    }
    let n = src.len();
    if n > 32 {
        buf.extend_from_slice(src);
    } else if let (Some(head), Some(tail)) = (src.first_chunk::<16>(), src.last_chunk::<16>()) {
        two(buf, head, tail, n);
    } else if let (Some(head), Some(tail)) = (src.first_chunk::<8>(), src.last_chunk::<8>()) {
        two(buf, head, tail, n);
    } else if let (Some(head), Some(tail)) = (src.first_chunk::<4>(), src.last_chunk::<4>()) {
        two(buf, head, tail, n);
    } else {
        for &b in src {
            buf.put_u8(b);
        }
    }
}

/// ` <n>\r\n` for `n` below 10^8 (every PUB size in practice): its bytes, little-endian in
/// a 16-byte word built in registers and zero after the end, and its length. `None` for
/// larger `n`.
///
/// Built as one value because writing the digits and the CR LF as separate small stores
/// and then copying them out as a wider word stalls store forwarding; `perf` showed that
/// stall as a third of `OutQueue::publish`.
#[inline]
fn short_line_end(n: u64) -> Option<([u8; 16], usize)> {
    if n >= 100_000_000 {
        return None;
    }
    // Least significant digit first into the high end: after the loop the most
    // significant digit is the lowest byte, so the little-endian bytes read in order.
    let (mut n, mut digits, mut len) = (n, 0u64, 0u32);
    loop {
        digits = (digits << 8) | u64::from(b'0' + (n % 10) as u8);
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let word = u128::from(b' ') | (u128::from(digits) << 8) | (0x0a0d_u128 << (8 * (1 + len)));
    Some((word.to_le_bytes(), len as usize + 3))
}

/// `usize` → `u64` for formatting; lossless on every platform Rust supports today.
#[inline]
fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Outgoing bytes: small writes coalesced into one buffer, large payloads chained as
/// their own `Bytes` without copying.
///
/// Bytes leave the queue in the order the ops were written. `Debug` prints sizes only,
/// never the content (a `CONNECT` may carry a password).
#[derive(Default)]
pub struct OutQueue {
    /// Frozen segments, oldest first; all of them come before `buf`. Never holds an empty
    /// segment.
    segments: VecDeque<Bytes>,
    /// The coalescing buffer: the newest bytes, after every segment.
    buf: BytesMut,
    /// Total pending bytes in `segments` and `buf`.
    len: usize,
    /// Bytes taken by `advance` (or dropped by `clear`) over the queue's life.
    consumed: u64,
    /// Empty handles on buffers sealed by `make_room`: once the segments cut from one
    /// have been written and dropped, its allocation is reused instead of a new one
    /// (fresh memory page-faulted on every buffer). At most [`MAX_SPARES`].
    spares: Vec<BytesMut>,
}

impl fmt::Debug for OutQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutQueue")
            .field("len", &self.len)
            .field("segments", &self.segments.len())
            .field("buffered", &self.buf.len())
            .finish()
    }
}

/// Fills `dst` with `chunks`, in order, as far as both go; returns how many were filled.
pub(crate) fn fill_io_slices<'a>(
    dst: &mut [IoSlice<'a>],
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> usize {
    let mut filled = 0;
    for (slot, chunk) in dst.iter_mut().zip(chunks) {
        *slot = IoSlice::new(chunk);
        filled += 1;
    }
    filled
}

impl OutQueue {
    /// An empty queue. It allocates on the first write.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `dst` with slices of the pending bytes, in order; returns how many were filled.
    ///
    /// When `dst` is shorter than the number of segments, only the first `dst.len()` are
    /// given; write them, [`advance`](OutQueue::advance), and ask again.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let tail = Some(&self.buf[..]).filter(|b| !b.is_empty());
        fill_io_slices(dst, self.segments.iter().map(|s| &s[..]).chain(tail))
    }

    /// Appends owned handles on the first `max` chunks of the pending bytes to `dst` and
    /// returns how many bytes they hold; the queue still holds them until
    /// [`advance`](OutQueue::advance). The coalescing buffer is sealed first, so what it
    /// holds can be lent; later ops go on into its spare capacity.
    pub fn lend(&mut self, dst: &mut Vec<Bytes>, max: usize) -> usize {
        self.seal();
        let mut lent = 0;
        for seg in self.segments.iter().take(max) {
            lent += seg.len();
            dst.push(seg.clone());
        }
        lent
    }

    /// Marks `n` bytes as written. A partial write may end anywhere, also inside a segment.
    ///
    /// `n` larger than [`len`](OutQueue::len) is treated as `len` (a caller bug, but not a
    /// reason to panic).
    pub fn advance(&mut self, n: usize) {
        let mut n = n.min(self.len);
        self.len -= n;
        self.consumed = self.consumed.wrapping_add(n as u64);
        while n > 0 {
            match self.segments.front_mut() {
                Some(seg) if n >= seg.len() => {
                    n -= seg.len();
                    self.segments.pop_front();
                }
                Some(seg) => {
                    seg.advance(n);
                    n = 0;
                }
                None => {
                    let k = n.min(self.buf.len());
                    self.buf.advance(k);
                    n = 0;
                }
            }
        }
        if self.len == 0 {
            // Dropping the segments drops any handle that shares `buf`'s allocation, so the
            // next `reserve` can reclaim it instead of allocating.
            self.segments.clear();
            self.buf.clear();
        }
    }

    /// Drops everything pending, keeping the buffer's allocation for reuse.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.buf.clear();
        self.consumed = self.consumed.wrapping_add(self.len as u64);
        self.len = 0;
    }

    /// The position, in the stream of everything ever queued, where the next op will
    /// start: bytes consumed (written or cleared) plus bytes pending. It only grows.
    pub fn stream_position(&self) -> u64 {
        self.consumed.wrapping_add(self.len as u64)
    }

    /// Bytes consumed (written or cleared) over the queue's life: stream positions below
    /// this have left the queue.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Copies every pending byte, in order (for rare slow paths, not for writing).
    pub fn pending_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for seg in &self.segments {
            out.extend_from_slice(seg);
        }
        out.extend_from_slice(&self.buf);
        out
    }

    /// Appends bytes that are already valid client protocol (frames taken from another
    /// queue), without checking them.
    pub(crate) fn push_encoded(&mut self, frames: &[u8]) {
        self.buf.extend_from_slice(frames);
        self.len += frames.len();
    }

    /// Appends everything pending in `other`, leaving it empty.
    ///
    /// Used to flush the reconnect buffer behind the CONNECT of a new connection. Segments
    /// are moved, not copied; `other`'s coalesced bytes are copied when small.
    pub fn append(&mut self, other: &mut OutQueue) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            // Swap the buffers but keep each queue's own stream counter.
            let (mine, theirs) = (self.consumed, other.consumed);
            std::mem::swap(self, other);
            self.consumed = mine;
            other.consumed = theirs;
            other.clear();
            return;
        }
        if !other.segments.is_empty() {
            self.seal();
            self.segments.append(&mut other.segments);
        }
        if other.buf.len() >= CHAIN_THRESHOLD {
            self.seal();
            self.segments.push_back(other.buf.split().freeze());
        } else {
            self.buf.extend_from_slice(&other.buf);
        }
        self.len += other.len;
        other.clear();
    }

    /// Makes sure the coalescing buffer has `need` bytes of spare capacity without copying
    /// what it holds.
    ///
    /// `BytesMut::reserve` on a full buffer moves the pending bytes: to the front of the
    /// allocation, or into a new one while a writer still holds part of the old. Under a
    /// sustained publisher that copied every pending byte again and again (7% of the
    /// client's CPU in `perf`). Instead, a non-empty buffer that is out of room is frozen
    /// into a segment, which costs no copy, and a new buffer of [`COALESCE_CHUNK`] starts.
    /// A buffer holding less than [`CHAIN_THRESHOLD`] bytes just reserves (copying that
    /// little is cheaper than another segment), reusing its allocation once nothing else
    /// holds it.
    fn make_room(&mut self, need: usize) {
        if self.buf.capacity() - self.buf.len() >= need {
            return;
        }
        if self.buf.len() >= CHAIN_THRESHOLD {
            self.seal();
            let want = need.max(COALESCE_CHUNK);
            let reusable = self.spares.iter_mut().position(|s| s.try_reclaim(want));
            let next = match reusable {
                Some(i) => self.spares.swap_remove(i),
                None => BytesMut::with_capacity(want),
            };
            let sealed = std::mem::replace(&mut self.buf, next);
            if self.spares.len() < MAX_SPARES {
                self.spares.push(sealed);
            }
        } else {
            self.buf.reserve(need.max(COALESCE_CHUNK));
        }
    }

    /// Freezes the coalescing buffer into a segment, so something can be chained after it.
    fn seal(&mut self) {
        if !self.buf.is_empty() {
            self.segments.push_back(self.buf.split().freeze());
        }
    }

    /// `PUB subject [reply] <size>` or, with headers, `HPUB subject [reply] <hdr> <total>`,
    /// followed by the headers, the payload and CRLF.
    ///
    /// `max_payload` is the server's limit from INFO, when known; it covers headers plus
    /// payload. Everything is checked before anything is written, so on error the queue is
    /// unchanged:
    /// * [`ValidationError::EmptySubject`], [`ValidationError::SubjectWhitespace`];
    /// * [`ValidationError::InvalidReply`];
    /// * [`ValidationError::MaxPayloadExceeded`] when headers plus payload exceed
    ///   `max_payload`.
    ///
    /// Header names and values were validated when they were added to the [`HeaderMap`].
    /// A payload of [`CHAIN_THRESHOLD`] bytes or more is chained without copying.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use natsy_proto::{HeaderMap, OutQueue, ValidationError};
    /// let mut q = OutQueue::new();
    /// let err = q.publish("big", None, None, Bytes::from(vec![0; 11]), Some(10));
    /// assert_eq!(err, Err(ValidationError::MaxPayloadExceeded { size: 11, max_payload: 10 }));
    /// assert!(q.is_empty());
    /// ```
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        max_payload: Option<usize>,
    ) -> Result<(), ValidationError> {
        validate_publish_subject(subject)?;
        if let Some(reply) = reply {
            validate_reply(reply)?;
        }
        let hdr_len = headers.map_or(0, HeaderMap::encoded_len);
        let size = hdr_len.saturating_add(payload.len());
        if let Some(max_payload) = max_payload {
            if size > max_payload {
                return Err(ValidationError::MaxPayloadExceeded { size, max_payload });
            }
        }

        // A PUB's size line end (` <size>\r\n`) is built in a register when it is short,
        // which it always is below 100 MB; HPUB and huge sizes take the general `Decimal`.
        let short_end = if headers.is_none() {
            short_line_end(to_u64(size))
        } else {
            None
        };
        let total = match short_end {
            Some(_) => None,
            None => Some(Decimal::new(to_u64(size))),
        };
        let end_len = match (&short_end, &total) {
            (Some((_, len)), _) => *len,
            (None, Some(total)) => total.line_end().len(),
            (None, None) => 0,
        };
        // Only HPUB carries the header size; PUB skips formatting it.
        let hdr = headers.map(|_| Decimal::new(to_u64(hdr_len)));
        let op: &[u8] = if headers.is_some() { b"HPUB " } else { b"PUB " };
        let line_len = op.len()
            + subject.len()
            + reply.map_or(0, |r| r.len() + 1)
            + hdr.as_ref().map_or(0, |d| d.as_bytes().len() + 1)
            + end_len;
        let chain = payload.len() >= CHAIN_THRESHOLD;
        let inline_payload = if chain { 0 } else { payload.len() };
        // The slack covers the fixed-size over-writes of `append_short`.
        self.make_room(line_len + hdr_len + inline_payload + 2 + SHORT_SLACK);

        let buf = &mut self.buf;
        buf.extend_from_slice(op);
        append_short(buf, subject.as_bytes());
        if let Some(reply) = reply {
            buf.put_u8(b' ');
            append_short(buf, reply.as_bytes());
        }
        if let Some(hdr) = &hdr {
            buf.extend_from_slice(hdr.spaced());
        }
        // The separators and the line end travel with the numbers: fewer appends.
        match (&short_end, &total) {
            (Some((word, len)), _) => {
                let start = buf.len();
                buf.extend_from_slice(word);
                buf.truncate(start + len);
            }
            (None, Some(total)) => buf.extend_from_slice(total.line_end()),
            (None, None) => {}
        }
        if let Some(headers) = headers {
            headers.encode(buf);
        }
        let payload_len = payload.len();
        if chain {
            self.seal();
            self.segments.push_back(payload);
        } else {
            append_short(&mut self.buf, &payload);
        }
        self.buf.extend_from_slice(b"\r\n");
        self.len += line_len + hdr_len + payload_len + 2;
        Ok(())
    }

    /// `SUB subject [queue] sid`, validated; on error nothing is written.
    ///
    /// Errors: [`ValidationError::EmptySubject`], [`ValidationError::SubjectWhitespace`],
    /// [`ValidationError::InvalidSubscribeSubject`], [`ValidationError::InvalidQueueName`].
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        sid: Sid,
    ) -> Result<(), ValidationError> {
        validate_subscribe_subject(subject)?;
        if let Some(queue) = queue {
            validate_queue(queue)?;
        }
        let sid = Decimal::new(sid);
        let len =
            4 + subject.len() + 1 + queue.map_or(0, |q| q.len() + 1) + sid.as_bytes().len() + 2;
        self.buf.reserve(len);
        self.buf.extend_from_slice(b"SUB ");
        self.buf.extend_from_slice(subject.as_bytes());
        self.buf.put_u8(b' ');
        if let Some(queue) = queue {
            self.buf.extend_from_slice(queue.as_bytes());
            self.buf.put_u8(b' ');
        }
        self.buf.extend_from_slice(sid.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self.len += len;
        Ok(())
    }

    /// `UNSUB sid [max]`: with `max`, the server removes the subscription after `max`
    /// deliveries in total (at once if that many were already delivered).
    pub fn unsubscribe(&mut self, sid: Sid, max: Option<u64>) {
        let sid = Decimal::new(sid);
        let max = max.map(Decimal::new);
        let len = 6 + sid.as_bytes().len() + max.as_ref().map_or(0, |m| m.as_bytes().len() + 1) + 2;
        self.buf.reserve(len);
        self.buf.extend_from_slice(b"UNSUB ");
        self.buf.extend_from_slice(sid.as_bytes());
        if let Some(max) = &max {
            self.buf.put_u8(b' ');
            self.buf.extend_from_slice(max.as_bytes());
        }
        self.buf.extend_from_slice(b"\r\n");
        self.len += len;
    }

    /// `CONNECT {json}`, the JSON being [`ConnectInfo`] serialized with `serde_json`.
    ///
    /// Serializing a `ConnectInfo` (strings, booleans and small integers) cannot fail; if
    /// it ever did, nothing would be written.
    pub fn connect(&mut self, info: &ConnectInfo) {
        let start = self.buf.len();
        self.buf.extend_from_slice(b"CONNECT ");
        match serde_json::to_writer((&mut self.buf).writer(), info) {
            Ok(()) => {
                self.buf.extend_from_slice(b"\r\n");
                self.len += self.buf.len() - start;
            }
            Err(_) => self.buf.truncate(start),
        }
    }

    /// `PING`.
    pub fn ping(&mut self) {
        self.buf.extend_from_slice(b"PING\r\n");
        self.len += 6;
    }

    /// `PONG`.
    pub fn pong(&mut self) {
        self.buf.extend_from_slice(b"PONG\r\n");
        self.len += 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Every pending byte, in order, without consuming.
    fn pending(q: &OutQueue) -> Vec<u8> {
        let mut slices = vec![IoSlice::new(&[]); q.segments.len() + 1];
        let n = q.io_slices(&mut slices);
        let out: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(out.len(), q.len(), "len() matches the slices");
        out
    }

    /// Writes at most `max` bytes the way `write_vectored` would, with a small IoSlice
    /// array; returns what was written and advances the queue.
    fn write_some(q: &mut OutQueue, max: usize, out: &mut Vec<u8>) -> usize {
        let mut slices = [IoSlice::new(&[]); 3];
        let n = q.io_slices(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            let take = s.len().min(max - written);
            out.extend_from_slice(&s[..take]);
            written += take;
            if written == max {
                break;
            }
        }
        q.advance(written);
        written
    }

    fn drain(q: &mut OutQueue) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            write_some(q, usize::MAX, &mut out);
        }
        out
    }

    fn bytes_of(f: impl FnOnce(&mut OutQueue)) -> Vec<u8> {
        let mut q = OutQueue::new();
        f(&mut q);
        drain(&mut q)
    }

    #[test]
    fn decimal_formats_every_width() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u32::MAX as u64, u64::MAX] {
            assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes());
        }
        for n in 0..2000u64 {
            assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes());
        }
        // Both sides of every power of ten, across the register fast path's 10^8 edge.
        for k in 1..=19u32 {
            let p = 10u64.pow(k);
            for n in [p - 1, p, p + 1, p / 10 * 9 + 7] {
                assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes(), "{n}");
            }
        }
    }

    #[test]
    fn short_line_end_matches_format_below_its_limit() {
        let mut ns = vec![0u64, 1, 9, 10, 99_999_999];
        for k in 1..=8u32 {
            let p = 10u64.pow(k);
            ns.extend([p - 1, p, p + 1]);
        }
        ns.extend((0..5000).map(|i| i * 20_011));
        for n in ns {
            let want = format!(" {n}\r\n");
            match short_line_end(n) {
                Some((word, len)) => {
                    assert_eq!(&word[..len], want.as_bytes(), "{n}");
                    assert!(
                        word[len..].iter().all(|&b| b == 0),
                        "{n}: zero after the end"
                    );
                }
                None => assert!(n >= 100_000_000, "{n} has a short form"),
            }
        }
        assert_eq!(short_line_end(100_000_000), None);
        assert_eq!(short_line_end(u64::MAX), None);
    }

    #[test]
    fn append_short_copies_every_length_whatever_the_capacity() {
        let src: Vec<u8> = (0..80u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(1))
            .collect();
        for n in 0..=src.len() {
            for (prefix, spare) in [(0, 0), (3, 0), (5, 1), (7, 64)] {
                let mut buf = BytesMut::with_capacity(prefix + spare);
                buf.extend_from_slice(&src[..prefix]);
                append_short(&mut buf, &src[..n]);
                let mut want = src[..prefix].to_vec();
                want.extend_from_slice(&src[..n]);
                assert_eq!(&buf[..], &want[..], "n={n} prefix={prefix} spare={spare}");
            }
        }
    }

    #[test]
    fn pub_bytes_for_every_short_subject_and_payload_length() {
        let chars = b"abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for subject_len in 1..=40 {
            let subject = std::str::from_utf8(&chars[..subject_len]).unwrap();
            for payload_len in (0..=70).chain([4095, 4096]) {
                let payload: Vec<u8> = (0..payload_len).map(|i| (i % 251) as u8).collect();
                let mut want = format!("PUB {subject} {payload_len}\r\n").into_bytes();
                want.extend_from_slice(&payload);
                want.extend_from_slice(b"\r\n");
                let got = bytes_of(|q| {
                    q.publish(subject, None, None, Bytes::from(payload), None)
                        .unwrap()
                });
                assert_eq!(got, want, "subject {subject_len}, payload {payload_len}");
            }
        }
    }

    #[test]
    fn exact_bytes_of_each_op() {
        let p = || Bytes::from_static(b"Hello NATS!");
        assert_eq!(
            bytes_of(|q| q.publish("FOO", None, None, p(), None).unwrap()),
            b"PUB FOO 11\r\nHello NATS!\r\n"
        );
        assert_eq!(
            bytes_of(|q| q
                .publish("FOO", Some("_INBOX.1"), None, p(), Some(11))
                .unwrap()),
            b"PUB FOO _INBOX.1 11\r\nHello NATS!\r\n"
        );
        assert_eq!(
            bytes_of(|q| q.publish("NOTIFY", None, None, Bytes::new(), None).unwrap()),
            b"PUB NOTIFY 0\r\n\r\n"
        );
        let mut h = HeaderMap::new();
        h.insert("Bar", "Baz").unwrap();
        // The digest's example: 22 header bytes, 33 in total.
        assert_eq!(
            bytes_of(|q| q.publish("FOO", None, Some(&h), p(), None).unwrap()),
            b"HPUB FOO 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n"
        );
        assert_eq!(
            bytes_of(|q| q
                .publish("FOO", Some("R"), Some(&h), Bytes::new(), Some(22))
                .unwrap()),
            b"HPUB FOO R 22 22\r\nNATS/1.0\r\nBar: Baz\r\n\r\n\r\n"
        );
        assert_eq!(
            bytes_of(|q| q.subscribe("foo.*", None, 1).unwrap()),
            b"SUB foo.* 1\r\n"
        );
        assert_eq!(
            bytes_of(|q| q
                .subscribe("foo.>", Some("workers"), 18446744073709551615)
                .unwrap()),
            b"SUB foo.> workers 18446744073709551615\r\n"
        );
        assert_eq!(bytes_of(|q| q.unsubscribe(7, None)), b"UNSUB 7\r\n");
        assert_eq!(bytes_of(|q| q.unsubscribe(7, Some(0))), b"UNSUB 7 0\r\n");
        assert_eq!(
            bytes_of(|q| q.unsubscribe(12, Some(100))),
            b"UNSUB 12 100\r\n"
        );
        assert_eq!(bytes_of(|q| q.ping()), b"PING\r\n");
        assert_eq!(bytes_of(|q| q.pong()), b"PONG\r\n");
    }

    #[test]
    fn connect_writes_the_json_of_connect_info() {
        let mut info = ConnectInfo::new();
        info.name = Some("svc a".into());
        let wire = bytes_of(|q| q.connect(&info));
        let json = serde_json::to_vec(&info).unwrap();
        let mut want = b"CONNECT ".to_vec();
        want.extend_from_slice(&json);
        want.extend_from_slice(b"\r\n");
        assert_eq!(wire, want);
        assert!(!json.contains(&b'\n'), "JSON stays on one line");
        let mut q = OutQueue::new();
        q.connect(&info);
        assert_eq!(q.len(), want.len());
    }

    #[test]
    fn debug_shows_sizes_not_content() {
        let mut info = ConnectInfo::new();
        info.pass = Some(crate::Secret::new("hunter2"));
        let mut q = OutQueue::new();
        q.connect(&info);
        assert!(pending(&q).windows(7).any(|w| w == b"hunter2"));
        let dbg = format!("{q:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("len"));
    }

    #[test]
    fn a_full_buffer_is_chained_not_moved() {
        let payload = Bytes::from_static(&[b'z'; 16]);
        let frame = b"PUB s 16\r\nzzzzzzzzzzzzzzzz\r\n";
        let mut q = OutQueue::new();
        let mut n = 0;
        while q.len() < CHAIN_THRESHOLD {
            q.publish("s", None, None, payload.clone(), None).unwrap();
            n += 1;
        }
        let first = {
            let mut slices = [IoSlice::new(&[]); 1];
            q.io_slices(&mut slices);
            slices[0].as_ptr()
        };
        // A partly written queue, then far more than one buffer's worth on top.
        q.advance(frame.len());
        n -= 1;
        while q.len() < 8 * COALESCE_CHUNK {
            q.publish("s", None, None, payload.clone(), None).unwrap();
            n += 1;
        }
        let mut slices = [IoSlice::new(&[]); 64];
        let k = q.io_slices(&mut slices);
        assert!(k > 1, "filled buffers became segments");
        assert_eq!(
            slices[0].as_ptr(),
            first.wrapping_add(frame.len()),
            "pending bytes stayed where they were written"
        );
        assert_eq!(drain(&mut q), frame.repeat(n));
    }

    #[test]
    fn large_payload_is_chained_without_copy() {
        let big = Bytes::from(vec![b'x'; CHAIN_THRESHOLD]);
        let small = Bytes::from(vec![b'y'; CHAIN_THRESHOLD - 1]);
        let mut q = OutQueue::new();
        q.ping();
        q.publish("big", None, None, big.clone(), None).unwrap();
        q.publish("small", None, None, small.clone(), None).unwrap();
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices);
        assert_eq!(n, 3, "control line segment, payload, coalesced tail");
        assert_eq!(&slices[0][..], b"PING\r\nPUB big 4096\r\n");
        assert_eq!(slices[1].as_ptr(), big.as_ptr(), "chained, not copied");
        assert_eq!(slices[1].len(), big.len());
        assert_ne!(
            slices[2].as_ptr(),
            small.as_ptr(),
            "below the threshold: copied"
        );
        assert!(slices[2].starts_with(b"\r\nPUB small 4095\r\nyyy"));

        // With headers the header block stays with the control line.
        let mut h = HeaderMap::new();
        h.insert("A", "b").unwrap();
        let mut q = OutQueue::new();
        q.publish("big", None, Some(&h), big.clone(), None).unwrap();
        let n = q.io_slices(&mut slices);
        assert_eq!(n, 3);
        assert_eq!(
            &slices[0][..],
            b"HPUB big 18 4114\r\nNATS/1.0\r\nA: b\r\n\r\n"
        );
        assert_eq!(slices[1].as_ptr(), big.as_ptr());
        assert_eq!(&slices[2][..], b"\r\n");
    }

    #[test]
    fn io_slices_respects_a_short_destination() {
        let big = Bytes::from(vec![1u8; CHAIN_THRESHOLD]);
        let mut q = OutQueue::new();
        for _ in 0..3 {
            q.publish("a", None, None, big.clone(), None).unwrap();
        }
        let mut one = [IoSlice::new(&[])];
        assert_eq!(q.io_slices(&mut one), 1);
        assert_eq!(&one[0][..], b"PUB a 4096\r\n");
        assert_eq!(q.io_slices(&mut []), 0);
        let mut many = [IoSlice::new(&[]); 16];
        // PUB line, payload, CRLF + PUB line, payload, CRLF + PUB line, payload, CRLF.
        assert_eq!(q.io_slices(&mut many), 7);
        assert_eq!(&many[2][..], b"\r\nPUB a 4096\r\n");
        assert_eq!(&many[6][..], b"\r\n");
        assert_eq!(OutQueue::new().io_slices(&mut many), 0);
    }

    /// A queue with every op, two chained payloads (one exactly at the threshold) and
    /// the bytes it must produce, built independently of the encoder.
    fn mixed() -> (OutQueue, Vec<u8>) {
        let big1 = Bytes::from((0..CHAIN_THRESHOLD).map(|i| i as u8).collect::<Vec<_>>());
        let big2 = Bytes::from(vec![b'z'; CHAIN_THRESHOLD + 7]);
        let mut h = HeaderMap::new();
        h.append("K", "v1").unwrap();
        h.append("K", "v2").unwrap();
        let mut q = OutQueue::new();
        let mut want = Vec::new();

        q.connect(&ConnectInfo::new());
        want.extend_from_slice(b"CONNECT ");
        want.extend_from_slice(&serde_json::to_vec(&ConnectInfo::new()).unwrap());
        want.extend_from_slice(b"\r\nPING\r\n");
        q.ping();
        q.subscribe("s.>", Some("q"), 3).unwrap();
        want.extend_from_slice(b"SUB s.> q 3\r\n");
        q.publish("p", Some("r"), None, big1.clone(), None).unwrap();
        want.extend_from_slice(format!("PUB p r {}\r\n", big1.len()).as_bytes());
        want.extend_from_slice(&big1);
        want.extend_from_slice(b"\r\n");
        q.publish("h", None, Some(&h), big2.clone(), None).unwrap();
        want.extend_from_slice(format!("HPUB h 26 {}\r\n", 26 + big2.len()).as_bytes());
        want.extend_from_slice(b"NATS/1.0\r\nK: v1\r\nK: v2\r\n\r\n");
        want.extend_from_slice(&big2);
        want.extend_from_slice(b"\r\n");
        q.publish("tiny", None, None, Bytes::from_static(b"ab"), None)
            .unwrap();
        want.extend_from_slice(b"PUB tiny 2\r\nab\r\n");
        q.unsubscribe(3, Some(5));
        want.extend_from_slice(b"UNSUB 3 5\r\n");
        q.pong();
        want.extend_from_slice(b"PONG\r\n");
        (q, want)
    }

    #[test]
    fn partial_writes_at_every_offset_give_back_the_stream() {
        let (q, want) = mixed();
        assert_eq!(pending(&q), want);
        assert_eq!(q.len(), want.len());
        for first in 0..=want.len() {
            let (mut q, _) = mixed();
            let mut out = Vec::with_capacity(want.len());
            let mut written = 0;
            while written < first {
                let n = write_some(&mut q, first - written, &mut out);
                assert!(n > 0);
                written += n;
            }
            assert_eq!(q.len(), want.len() - first);
            let mut second = 0;
            while !q.is_empty() {
                second += write_some(&mut q, usize::MAX, &mut out);
            }
            assert_eq!(second, want.len() - first);
            assert!(out == want, "split at {first}");
        }
    }

    #[test]
    fn random_short_writes_give_back_the_stream() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for _ in 0..20 {
            let (mut q, want) = mixed();
            let mut out = Vec::new();
            while !q.is_empty() {
                let max = rng.random_range(0..600);
                write_some(&mut q, max, &mut out);
            }
            assert!(out == want);
        }
    }

    #[test]
    fn advance_past_the_end_is_clamped() {
        let mut q = OutQueue::new();
        q.ping();
        q.advance(100);
        assert!(q.is_empty());
        q.pong();
        assert_eq!(drain(&mut q), b"PONG\r\n");
    }

    #[test]
    fn validation_errors_leave_the_queue_unchanged() {
        let mut h = HeaderMap::new();
        h.insert("A", "b").unwrap(); // 18 header bytes
        let mut q = OutQueue::new();
        q.ping();
        q.publish(
            "big",
            None,
            None,
            Bytes::from(vec![0; CHAIN_THRESHOLD]),
            None,
        )
        .unwrap();
        let before = pending(&q);
        let p = || Bytes::from_static(b"0123456789");
        use ValidationError::*;
        assert_eq!(q.publish("", None, None, p(), None), Err(EmptySubject));
        assert_eq!(
            q.publish("a b", None, None, p(), None),
            Err(SubjectWhitespace)
        );
        assert_eq!(q.publish("a", Some(""), None, p(), None), Err(InvalidReply));
        assert_eq!(
            q.publish("a", Some("r\n"), None, p(), None),
            Err(InvalidReply)
        );
        assert_eq!(
            q.publish("a", None, None, p(), Some(9)),
            Err(MaxPayloadExceeded {
                size: 10,
                max_payload: 9
            })
        );
        assert_eq!(
            q.publish("a", None, Some(&h), p(), Some(27)),
            Err(MaxPayloadExceeded {
                size: 28,
                max_payload: 27
            })
        );
        assert_eq!(
            q.publish("a", None, None, Bytes::from(vec![0; 5000]), Some(4999)),
            Err(MaxPayloadExceeded {
                size: 5000,
                max_payload: 4999
            })
        );
        assert_eq!(q.subscribe("", None, 1), Err(EmptySubject));
        assert_eq!(q.subscribe("a..b", None, 1), Err(InvalidSubscribeSubject));
        assert_eq!(q.subscribe("a b", None, 1), Err(SubjectWhitespace));
        assert_eq!(q.subscribe("a", Some(""), 1), Err(InvalidQueueName));
        assert_eq!(q.subscribe("a", Some("q q"), 1), Err(InvalidQueueName));
        assert_eq!(pending(&q), before);
        assert_eq!(q.len(), before.len());
        // Exactly at the limit is allowed.
        q.publish("a", None, Some(&h), p(), Some(28)).unwrap();
        q.publish("a", None, None, p(), Some(10)).unwrap();
    }

    #[test]
    fn append_moves_content_to_the_end() {
        let (mut a, mut want) = mixed();
        let (mut b, want_b) = mixed();
        b.publish("after", None, None, Bytes::from_static(b"x"), None)
            .unwrap();
        want.extend_from_slice(&want_b);
        want.extend_from_slice(b"PUB after 1\r\nx\r\n");
        a.append(&mut b);
        assert!(b.is_empty());
        assert_eq!(b.io_slices(&mut [IoSlice::new(&[])]), 0);
        assert_eq!(a.len(), want.len());
        assert!(pending(&a) == want);
        // Writing continues after the appended bytes; the emptied queue is reusable.
        a.ping();
        b.pong();
        want.extend_from_slice(b"PING\r\n");
        assert!(drain(&mut a) == want);
        assert_eq!(drain(&mut b), b"PONG\r\n");
    }

    #[test]
    fn append_edge_cases() {
        // Into an empty queue: the content moves over.
        let mut a = OutQueue::new();
        let (mut b, want) = mixed();
        a.append(&mut b);
        assert!(b.is_empty());
        assert!(pending(&a) == want);
        // From an empty queue: nothing changes.
        let mut empty = OutQueue::new();
        a.append(&mut empty);
        assert!(pending(&a) == want);
        // Small coalesced content is copied behind existing content; a large one is chained.
        let mut a = OutQueue::new();
        a.ping();
        let mut b = OutQueue::new();
        b.pong();
        a.append(&mut b);
        assert_eq!(a.segments.len(), 0);
        let mut c = OutQueue::new();
        for _ in 0..CHAIN_THRESHOLD / 6 + 1 {
            c.ping();
        }
        let c_len = c.len();
        a.append(&mut c);
        assert_eq!(a.len(), 12 + c_len);
        let out = drain(&mut a);
        assert!(out.starts_with(b"PING\r\nPONG\r\nPING\r\nPING\r\n"));
        assert_eq!(out.len(), 12 + c_len);
    }

    #[test]
    fn clear_drops_everything() {
        let (mut q, _) = mixed();
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.io_slices(&mut [IoSlice::new(&[])]), 0);
        q.ping();
        assert_eq!(drain(&mut q), b"PING\r\n");
    }
}

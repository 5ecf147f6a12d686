//! WebSocket (RFC 6455) for `ws://` and `wss://` servers, sans-IO: the client's opening
//! handshake ([`ClientHandshake`]), the frame decoder for what the server sends
//! ([`FrameDecoder`]: fragmentation, ping, pong, close) and the frame encoder
//! ([`encode_frame`]: client frames are masked with a key the caller draws from its
//! RNG). NATS rides on binary frames as a byte stream: message boundaries carry no
//! meaning, so the decoder hands out payload bytes as they arrive, never buffering a
//! whole frame (a large frame costs no memory).
//!
//! Per-message compression (`permessage-deflate`, RFC 7692) is offered when asked for
//! ([`ClientHandshake::with_compression`]), without context takeover in either direction
//! (what nats-server speaks). When the server accepts, [`FrameDecoder::with_compression`]
//! inflates its compressed messages as they stream in, into the caller's output, so a
//! compressed frame costs no more memory than a plain one. The client's own frames stay
//! uncompressed, which RFC 7692 allows per message: compressing every publish would cost
//! CPU per byte sent for links that are mostly fast.
//!
//! ```
//! use bytes::BytesMut;
//! use natsy_proto::websocket::{encode_frame, ClientHandshake, Decoded, FrameDecoder, Opcode};
//! use natsy_proto::Status;
//!
//! let hs = ClientHandshake::new([7; 16]);
//! let mut request = Vec::new();
//! hs.request("example.com", 8080, "/", &mut request);
//! let response = format!(
//!     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!      Sec-WebSocket-Accept: {}\r\n\r\n",
//!     hs.expected_accept()
//! );
//! assert_eq!(hs.parse_response(response.as_bytes()).unwrap(), Status::Complete(response.len()));
//!
//! // A server frame (unmasked) carrying "PING\r\n", decoded into plain bytes.
//! let mut wire = Vec::new();
//! encode_frame(Opcode::Binary, &[b"PING\r\n"], None, &mut wire);
//! let mut input = BytesMut::from(&wire[..]);
//! let mut out = [0u8; 64];
//! let mut decoder = FrameDecoder::default();
//! assert_eq!(decoder.decode(&mut input, &mut out).unwrap(), Decoded::Data(6));
//! assert_eq!(&out[..6], b"PING\r\n");
//! ```

use std::fmt;

use base64::Engine;
use bytes::{Buf, BytesMut};
use flate2::{Decompress, FlushDecompress};
use sha1::{Digest, Sha1};

use crate::server_op::Status;

/// The GUID of RFC 6455 §1.3, hashed with the key into `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The largest handshake response accepted.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;
/// The largest control frame payload (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;

/// A WebSocket failure: the handshake was refused or a frame broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// The response was not `101 Switching Protocols` (the status, if it had one).
    NotSwitching(Option<u16>),
    /// The response lacked `Upgrade: websocket` or `Connection: Upgrade`.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` was missing or wrong: not a WebSocket server for our key.
    BadAccept,
    /// The response head was larger than [`MAX_RESPONSE_HEAD`].
    ResponseTooLarge,
    /// A server frame was masked (RFC 6455 §5.1 forbids it).
    MaskedFrame,
    /// A frame used reserved bits (compression or an extension never negotiated).
    ReservedBits,
    /// A frame had an opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A control frame was fragmented or longer than 125 bytes.
    BadControlFrame,
    /// A continuation without a message, or a new message inside a fragmented one.
    BadFragmentation,
    /// A frame length with the top bit set (RFC 6455 §5.2).
    BadLength,
    /// The server's upgrade accepted an extension that was not offered, or
    /// `permessage-deflate` with parameters this client cannot honour.
    BadExtension,
    /// A compressed message was not valid deflate data.
    BadCompressedData,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSwitching(Some(s)) => write!(f, "websocket upgrade refused with HTTP {s}"),
            Self::NotSwitching(None) => f.write_str("websocket upgrade: not an HTTP response"),
            Self::NotUpgraded => f.write_str("websocket upgrade: the response did not upgrade"),
            Self::BadAccept => f.write_str("websocket upgrade: wrong Sec-WebSocket-Accept"),
            Self::ResponseTooLarge => f.write_str("websocket upgrade: response head too large"),
            Self::MaskedFrame => f.write_str("websocket: the server sent a masked frame"),
            Self::ReservedBits => f.write_str("websocket: a frame used reserved bits"),
            Self::UnknownOpcode(op) => write!(f, "websocket: unknown opcode {op:#x}"),
            Self::BadControlFrame => f.write_str("websocket: a fragmented or long control frame"),
            Self::BadFragmentation => f.write_str("websocket: broken message fragmentation"),
            Self::BadLength => f.write_str("websocket: invalid frame length"),
            Self::BadExtension => {
                f.write_str("websocket upgrade: an extension that was not offered")
            }
            Self::BadCompressedData => {
                f.write_str("websocket: a compressed message was not valid deflate data")
            }
        }
    }
}

impl std::error::Error for WsError {}

/// The client's opening handshake, for one key (16 random bytes the caller draws).
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    accept: String,
    /// `permessage-deflate` is offered.
    compression: bool,
}

/// What the server agreed to in its upgrade response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgrade {
    /// Bytes of the response head: what follows them is frames.
    pub len: usize,
    /// The server accepted `permessage-deflate`: it may compress its messages.
    pub compression: Option<Compression>,
}

/// `permessage-deflate` as the server accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compression {
    /// The server starts each message with a fresh compression context
    /// (`server_no_context_takeover`), so the inflater is reset between messages.
    pub server_no_context_takeover: bool,
}

/// The extension offer: no context kept between messages in either direction, which
/// bounds what each side holds and is what nats-server negotiates.
const DEFLATE_OFFER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

impl ClientHandshake {
    /// A handshake for `key` (draw it from the connection's RNG).
    pub fn new(key: [u8; 16]) -> Self {
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let mut sha = Sha1::new();
        sha.update(key.as_bytes());
        sha.update(ACCEPT_GUID.as_bytes());
        let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
        ClientHandshake {
            key,
            accept,
            compression: false,
        }
    }

    /// The same, offering `permessage-deflate` in the request.
    pub fn with_compression(key: [u8; 16]) -> Self {
        ClientHandshake {
            compression: true,
            ..Self::new(key)
        }
    }

    /// The `Sec-WebSocket-Accept` a real server answers with.
    pub fn expected_accept(&self) -> &str {
        &self.accept
    }

    /// Appends the HTTP upgrade request for `host`:`port` and `path` (`/` if empty).
    pub fn request(&self, host: &str, port: u16, path: &str, out: &mut Vec<u8>) {
        let path = if path.is_empty() { "/" } else { path };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let extensions = if self.compression {
            format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
        } else {
            String::new()
        };
        out.extend_from_slice(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
                 {extensions}\r\n",
                self.key
            )
            .as_bytes(),
        );
    }

    /// Checks the server's response: `Complete(n)` when the first `n` bytes of `input`
    /// were a valid upgrade (what follows is frames), `Partial` when more is needed.
    pub fn parse_response(&self, input: &[u8]) -> Result<Status<usize>, WsError> {
        Ok(match self.parse_upgrade(input)? {
            Status::Complete(upgrade) => Status::Complete(upgrade.len),
            Status::Partial => Status::Partial,
        })
    }

    /// [`parse_response`](Self::parse_response), with what the server agreed to.
    pub fn parse_upgrade(&self, input: &[u8]) -> Result<Status<Upgrade>, WsError> {
        let Some(end) = memchr::memmem::find(input, b"\r\n\r\n") else {
            return if input.len() > MAX_RESPONSE_HEAD {
                Err(WsError::ResponseTooLarge)
            } else {
                Ok(Status::Partial)
            };
        };
        if end > MAX_RESPONSE_HEAD {
            return Err(WsError::ResponseTooLarge);
        }
        let head = String::from_utf8_lossy(&input[..end]);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default();
        let code = status
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status.strip_prefix("HTTP/1.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        if code != Some(101) {
            return Err(WsError::NotSwitching(code));
        }
        let (mut upgrade, mut connection, mut accept) = (false, false, false);
        let mut compression = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "upgrade" => upgrade |= value.eq_ignore_ascii_case("websocket"),
                "connection" => {
                    connection |= value
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
                }
                "sec-websocket-accept" => accept |= value == self.accept,
                "sec-websocket-extensions" => {
                    if !self.compression || compression.is_some() {
                        return Err(WsError::BadExtension);
                    }
                    compression = Some(accepted_deflate(value)?);
                }
                _ => {}
            }
        }
        if !upgrade || !connection {
            return Err(WsError::NotUpgraded);
        }
        if !accept {
            return Err(WsError::BadAccept);
        }
        Ok(Status::Complete(Upgrade {
            len: end + 4,
            compression,
        }))
    }
}

/// The server's `Sec-WebSocket-Extensions` answer to [`DEFLATE_OFFER`]: exactly
/// `permessage-deflate` with parameters a full-window inflater handles.
fn accepted_deflate(value: &str) -> Result<Compression, WsError> {
    let mut params = value.split(';').map(str::trim);
    if params.next() != Some("permessage-deflate") {
        return Err(WsError::BadExtension);
    }
    let mut c = Compression::default();
    for param in params {
        let name = param.split('=').next().unwrap_or_default().trim();
        match name {
            "server_no_context_takeover" => c.server_no_context_takeover = true,
            // Ours are never compressed, so limits on our window change nothing; a
            // 32 KiB inflater window reads any smaller server window.
            "client_no_context_takeover" | "client_max_window_bits" | "server_max_window_bits" => {}
            _ => return Err(WsError::BadExtension),
        }
    }
    Ok(c)
}

/// A frame's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// More of a fragmented message.
    Continuation,
    /// A text message (treated as bytes: NATS is not text).
    Text,
    /// A binary message: how NATS travels.
    Binary,
    /// The peer closes.
    Close,
    /// A ping, to be answered with a pong carrying the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Result<Self, WsError> {
        Ok(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(WsError::UnknownOpcode(other)),
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// What [`FrameDecoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// This many payload bytes were written to the output.
    Data(usize),
    /// A ping: answer with a pong carrying this payload.
    Ping(Vec<u8>),
    /// A pong (nothing to do).
    Pong,
    /// The server closes: its status code, if it sent one. Answer with a close and
    /// end the transport.
    Close(Option<u16>),
    /// Nothing complete yet: read more.
    Partial,
}

/// Where the decoder is in the frame stream.
#[derive(Debug, Clone, Default)]
enum State {
    /// Between frames.
    #[default]
    Header,
    /// Inside a data frame's payload, with this much left.
    Payload(u64),
    /// A compressed message's frames are all read: the deflate tail RFC 7692 strips
    /// (`00 00 ff ff`) goes in from this offset, then the inflater's last output.
    Tail(usize),
}

/// The bytes RFC 7692 §7.2.1 removes from the end of each compressed message.
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Decodes the server's frames, handing out the payload of data frames as it arrives.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    state: State,
    /// A fragmented message is in progress (its first frame had no FIN).
    in_message: bool,
    /// The frame being read is its message's last.
    fin: bool,
    /// `permessage-deflate` was negotiated: its inflater and terms.
    inflate: Option<(Decompress, Compression)>,
    /// The message in progress is compressed.
    compressed: bool,
}

impl FrameDecoder {
    /// A decoder for a connection whose server accepted `permessage-deflate`.
    pub fn with_compression(compression: Compression) -> Self {
        FrameDecoder {
            inflate: Some((Decompress::new(false), compression)),
            ..Self::default()
        }
    }

    /// Decodes from `input` (consuming what it used) into `out`. Call again while it
    /// returns anything but `Partial`.
    pub fn decode(&mut self, input: &mut BytesMut, out: &mut [u8]) -> Result<Decoded, WsError> {
        loop {
            match self.state {
                State::Payload(0) => {
                    if self.fin && self.compressed {
                        self.state = State::Tail(0);
                        continue;
                    }
                    self.state = State::Header;
                    self.in_message = !self.fin;
                }
                State::Payload(left) if self.compressed => {
                    if out.is_empty() {
                        return Ok(Decoded::Partial);
                    }
                    // Also with no input: output the inflater still holds comes out.
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    let (used, made, _) = self.inflate(&input[..take], out)?;
                    input.advance(used);
                    self.state = State::Payload(left - used as u64);
                    if made > 0 {
                        return Ok(Decoded::Data(made));
                    }
                    if used == 0 {
                        if take == 0 {
                            return Ok(Decoded::Partial);
                        }
                        // Room and input, yet no progress: not deflate data.
                        return Err(WsError::BadCompressedData);
                    }
                }
                State::Payload(left) => {
                    if input.is_empty() || out.is_empty() {
                        return Ok(Decoded::Partial);
                    }
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len())
                        .min(out.len());
                    out[..n].copy_from_slice(&input[..n]);
                    input.advance(n);
                    self.state = State::Payload(left - n as u64);
                    return Ok(Decoded::Data(n));
                }
                State::Tail(at) => {
                    if out.is_empty() {
                        return Ok(Decoded::Partial);
                    }
                    let (used, made, ended) = self.inflate(&DEFLATE_TAIL[at..], out)?;
                    self.state = State::Tail(at + used);
                    if made > 0 {
                        return Ok(Decoded::Data(made));
                    }
                    // A message may end in a final deflate block (RFC 7692 §7.2.3.1);
                    // the tail after it means nothing.
                    if ended || at + used == DEFLATE_TAIL.len() {
                        // All of the message is out.
                        if let Some((inflater, terms)) = &mut self.inflate {
                            if ended || terms.server_no_context_takeover {
                                inflater.reset(false);
                            }
                        }
                        self.compressed = false;
                        self.in_message = false;
                        self.state = State::Header;
                    } else if used == 0 {
                        return Err(WsError::BadCompressedData);
                    }
                }
                State::Header => {
                    let Some(header) = parse_header(input)? else {
                        return Ok(Decoded::Partial);
                    };
                    if header.compressed
                        && (self.inflate.is_none()
                            || header.opcode.is_control()
                            || header.opcode == Opcode::Continuation)
                    {
                        // RSV1 means compressed only once negotiated, and only on a
                        // message's first frame (RFC 7692 §6).
                        return Err(WsError::ReservedBits);
                    }
                    if header.opcode.is_control() {
                        // Whole control frames only: they are at most 125 bytes.
                        let total = header.len + header.payload as usize;
                        if input.len() < total {
                            return Ok(Decoded::Partial);
                        }
                        input.advance(header.len);
                        let payload = input.split_to(header.payload as usize);
                        return Ok(match header.opcode {
                            Opcode::Ping => Decoded::Ping(payload.to_vec()),
                            Opcode::Pong => Decoded::Pong,
                            _ => Decoded::Close(
                                (payload.len() >= 2)
                                    .then(|| u16::from_be_bytes([payload[0], payload[1]])),
                            ),
                        });
                    }
                    match (header.opcode, self.in_message) {
                        (Opcode::Continuation, false) => return Err(WsError::BadFragmentation),
                        (Opcode::Text | Opcode::Binary, true) => {
                            return Err(WsError::BadFragmentation)
                        }
                        (Opcode::Text | Opcode::Binary, false) => {
                            self.compressed = header.compressed;
                        }
                        _ => {}
                    }
                    input.advance(header.len);
                    self.fin = header.fin;
                    self.in_message = true;
                    self.state = State::Payload(header.payload);
                }
            }
        }
    }

    /// Inflates `input` into `out`: (bytes used, bytes made, the deflate stream ended).
    fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize, bool), WsError> {
        let Some((inflater, _)) = &mut self.inflate else {
            return Err(WsError::BadCompressedData);
        };
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(input, out, FlushDecompress::Sync)
            .map_err(|_| WsError::BadCompressedData)?;
        let used = usize::try_from(inflater.total_in() - in_before).unwrap_or(usize::MAX);
        let made = usize::try_from(inflater.total_out() - out_before).unwrap_or(usize::MAX);
        Ok((used, made, status == flate2::Status::StreamEnd))
    }
}

struct Header {
    fin: bool,
    /// RSV1: the message is compressed (`permessage-deflate`).
    compressed: bool,
    opcode: Opcode,
    /// Header bytes.
    len: usize,
    payload: u64,
}

/// Parses a frame header at the start of `input` (without consuming it).
fn parse_header(input: &[u8]) -> Result<Option<Header>, WsError> {
    let (Some(&b0), Some(&b1)) = (input.first(), input.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 {
        return Err(WsError::ReservedBits);
    }
    if b1 & 0x80 != 0 {
        return Err(WsError::MaskedFrame);
    }
    let opcode = Opcode::from_bits(b0 & 0x0F)?;
    let fin = b0 & 0x80 != 0;
    let (len, payload) = match b1 & 0x7F {
        126 => match input.get(2..4) {
            Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Ok(None),
        },
        127 => match input.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_be_bytes(a);
                if n >> 63 != 0 {
                    return Err(WsError::BadLength);
                }
                (10, n)
            }
            None => return Ok(None),
        },
        n => (2, u64::from(n)),
    };
    if opcode.is_control() && (!fin || payload > MAX_CONTROL as u64) {
        return Err(WsError::BadControlFrame);
    }
    Ok(Some(Header {
        fin,
        compressed: b0 & 0x40 != 0,
        opcode,
        len,
        payload,
    }))
}

/// Appends one frame (FIN set) carrying the concatenation of `payload` to `out`: masked
/// with `mask` as a client must (draw it from the RNG per frame), or unmasked with `None`
/// (what a server sends; for tests).
pub fn encode_frame(opcode: Opcode, payload: &[&[u8]], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let len: usize = payload.iter().map(|p| p.len()).sum();
    out.push(0x80 | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        None => {
            for p in payload {
                out.extend_from_slice(p);
            }
        }
        Some(key) => {
            out.extend_from_slice(&key);
            out.reserve(len);
            let start = out.len();
            for p in payload {
                out.extend_from_slice(p);
            }
            apply_mask(&mut out[start..], key);
        }
    }
}

/// XORs `data` with the repeated 4-byte `key` (RFC 6455 §5.3), from the key's first
/// byte. Eight bytes at a time: a byte-wise loop with a running index is what made
/// masking the larger part of a `ws://` publisher's CPU.
fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let [a, b, c, d] = key;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so at the key's first byte again.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmasks a client frame the way a server does: (opcode, payload).
    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let (len, at) = match frame[1] & 0x7F {
            126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        assert_eq!(frame[1] & 0x80, 0x80, "client frames are masked");
        let key = &frame[at..at + 4];
        let data = frame[at + 4..at + 4 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        (frame[0] & 0x0F, data)
    }

    fn decode_all(
        decoder: &mut FrameDecoder,
        wire: &[u8],
        chunk: usize,
    ) -> (Vec<u8>, Vec<Decoded>) {
        let mut input = BytesMut::new();
        let (mut data, mut control) = (Vec::new(), Vec::new());
        let mut out = [0u8; 7];
        for piece in wire.chunks(chunk.max(1)) {
            input.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut input, &mut out).unwrap() {
                    Decoded::Partial => break,
                    Decoded::Data(n) => data.extend_from_slice(&out[..n]),
                    other => control.push(other),
                }
            }
        }
        (data, control)
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" gives "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
        let key: [u8; 16] = *b"the sample nonce";
        let hs = ClientHandshake::new(key);
        assert_eq!(hs.expected_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut req = Vec::new();
        hs.request("::1", 8080, "", &mut req);
        let req = String::from_utf8(req).unwrap();
        assert!(
            req.starts_with("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n"),
            "{req}"
        );
        assert!(req.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    }

    #[test]
    fn handshake_responses_are_checked() {
        let hs = ClientHandshake::new([1; 16]);
        let good = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\nXX",
            hs.expected_accept()
        );
        assert_eq!(
            hs.parse_response(good.as_bytes()).unwrap(),
            Status::Complete(good.len() - 2)
        );
        assert_eq!(
            hs.parse_response(&good.as_bytes()[..20]).unwrap(),
            Status::Partial
        );
        let cases: [(&str, WsError); 4] = [
            ("HTTP/1.1 403 Forbidden\r\n\r\n", WsError::NotSwitching(Some(403))),
            ("SSH-2.0\r\n\r\n", WsError::NotSwitching(None)),
            ("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: x\r\n\r\n", WsError::NotUpgraded),
            (
                "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
                WsError::BadAccept,
            ),
        ];
        for (response, want) in cases {
            assert_eq!(
                hs.parse_response(response.as_bytes()),
                Err(want),
                "{response}"
            );
        }
        let huge = vec![b'a'; MAX_RESPONSE_HEAD + 1];
        assert_eq!(hs.parse_response(&huge), Err(WsError::ResponseTooLarge));
    }

    #[test]
    fn client_frames_are_masked_at_every_length_class() {
        for len in [0usize, 5, 125, 126, 65_535, 65_536, 200_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (a, b) = payload.split_at(len / 3);
            let mut frame = Vec::new();
            encode_frame(Opcode::Binary, &[a, b], Some([9, 8, 7, 6]), &mut frame);
            assert_eq!(frame[0], 0x82);
            assert_eq!(unmask(&frame), (2, payload), "length {len}");
        }
    }

    #[test]
    fn masking_is_continuous_across_slices_and_tails_of_every_length() {
        let key = [0xA1, 0x02, 0xF3, 0x44];
        for len in 0..40usize {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            // Slices of 3, 1, 5, ... bytes: no boundary falls where the key restarts.
            let mut parts = Vec::new();
            let mut rest = &payload[..];
            for size in [3usize, 1, 5, 2].iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (part, more) = rest.split_at((*size).min(rest.len()));
                parts.push(part);
                rest = more;
            }
            let mut frame = Vec::new();
            encode_frame(Opcode::Binary, &parts, Some(key), &mut frame);
            assert_eq!(unmask(&frame), (2, payload), "length {len}");
        }
    }

    #[test]
    fn fragmented_messages_and_interleaved_control_frames_decode_at_any_split() {
        let mut wire = Vec::new();
        // "INFO" in three fragments with a ping between, then a whole frame, a pong and a close.
        let mut first = Vec::new();
        encode_frame(Opcode::Binary, &[b"IN"], None, &mut first);
        first[0] &= 0x7F; // no FIN
        wire.extend_from_slice(&first);
        encode_frame(Opcode::Ping, &[b"hi"], None, &mut wire);
        let mut middle = Vec::new();
        encode_frame(Opcode::Continuation, &[b"F"], None, &mut middle);
        middle[0] &= 0x7F;
        wire.extend_from_slice(&middle);
        encode_frame(Opcode::Continuation, &[b"O "], None, &mut wire);
        let big = vec![b'x'; 70_000];
        encode_frame(Opcode::Text, &[&big], None, &mut wire);
        encode_frame(Opcode::Pong, &[], None, &mut wire);
        encode_frame(
            Opcode::Close,
            &[&1000u16.to_be_bytes(), b"bye"],
            None,
            &mut wire,
        );
        for chunk in [1, 2, 3, 7, 100, wire.len()] {
            let (data, control) = decode_all(&mut FrameDecoder::default(), &wire, chunk);
            assert_eq!(&data[..6], b"INFO x");
            assert_eq!(data.len(), 5 + 70_000, "chunk {chunk}");
            assert_eq!(
                control,
                [
                    Decoded::Ping(b"hi".to_vec()),
                    Decoded::Pong,
                    Decoded::Close(Some(1000))
                ]
            );
        }
    }

    #[test]
    fn protocol_violations_are_typed_errors() {
        let cases: [(&[u8], WsError); 7] = [
            (&[0x82, 0x81, 0, 0, 0, 0, 0], WsError::MaskedFrame),
            (&[0xC2, 0x00], WsError::ReservedBits),
            (&[0x83, 0x00], WsError::UnknownOpcode(3)),
            (&[0x09, 0x00], WsError::BadControlFrame),
            (&[0x89, 126, 0, 200], WsError::BadControlFrame),
            (&[0x80, 0x00], WsError::BadFragmentation),
            (&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], WsError::BadLength),
        ];
        for (wire, want) in cases {
            let mut input = BytesMut::from(wire);
            let mut out = [0u8; 8];
            assert_eq!(
                FrameDecoder::default().decode(&mut input, &mut out),
                Err(want)
            );
        }
        // A new message inside a fragmented one.
        let mut input = BytesMut::from(&[0x02, 0x01, b'a', 0x82, 0x00][..]);
        let mut out = [0u8; 8];
        let mut d = FrameDecoder::default();
        assert_eq!(d.decode(&mut input, &mut out), Ok(Decoded::Data(1)));
        assert_eq!(
            d.decode(&mut input, &mut out),
            Err(WsError::BadFragmentation)
        );
    }

    /// A server's compressed message: raw deflate with a sync flush, its tail stripped
    /// (RFC 7692 §7.2.1), with `compress`'s context kept or not by the caller.
    fn deflated(compress: &mut flate2::Compress, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 64);
        compress
            .compress_vec(text, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&DEFLATE_TAIL));
        out.truncate(out.len() - 4);
        out
    }

    /// A frame header with RSV1 set on `first`.
    fn compressed_frame(opcode: Opcode, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        encode_frame(opcode, &[payload], None, &mut f);
        f[0] = (f[0] & 0x0f) | if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 };
        f
    }

    #[test]
    fn rfc_7692s_hello_inflates() {
        // RFC 7692 §7.2.3.1: "Hello" compressed in one frame.
        let wire = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        for chunk in 1..=wire.len() {
            let mut d = FrameDecoder::with_compression(Compression::default());
            let (data, control) = decode_all(&mut d, &wire, chunk);
            assert_eq!(data, b"Hello", "chunk {chunk}");
            assert!(control.is_empty());
        }
        // Without negotiation RSV1 is still an error.
        let mut input = BytesMut::from(&wire[..]);
        let err = FrameDecoder::default().decode(&mut input, &mut [0; 16]);
        assert_eq!(err, Err(WsError::ReservedBits));
    }

    #[test]
    fn compressed_fragmented_messages_with_and_without_context_takeover() {
        let texts: Vec<Vec<u8>> = (0..20)
            .map(|i| format!("MSG greet.joe 1 {i}\r\n{}\r\n", "hello ".repeat(i * 37)).into_bytes())
            .collect();
        for takeover in [false, true] {
            let mut compress = flate2::Compress::new(flate2::Compression::default(), false);
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for (i, text) in texts.iter().enumerate() {
                if !takeover {
                    compress.reset();
                }
                let body = deflated(&mut compress, text);
                expected.extend_from_slice(text);
                if i % 3 == 0 && body.len() > 2 {
                    // Fragmented: RSV1 on the first frame only, a ping between.
                    let (a, b) = body.split_at(body.len() / 2);
                    wire.extend(compressed_frame(Opcode::Binary, false, true, a));
                    encode_frame(Opcode::Ping, &[b"p"], None, &mut wire);
                    wire.extend(compressed_frame(Opcode::Continuation, true, false, b));
                } else {
                    wire.extend(compressed_frame(Opcode::Binary, true, true, &body));
                }
                if i % 4 == 1 {
                    // Uncompressed messages may come between (RSV1 clear).
                    encode_frame(Opcode::Binary, &[b"PING\r\n"], None, &mut wire);
                    expected.extend_from_slice(b"PING\r\n");
                }
            }
            for chunk in [1, 2, 3, 7, 64, 1000, wire.len()] {
                let terms = Compression {
                    server_no_context_takeover: !takeover,
                };
                let mut d = FrameDecoder::with_compression(terms);
                let (data, control) = decode_all(&mut d, &wire, chunk);
                assert_eq!(data, expected, "takeover {takeover}, chunk {chunk}");
                assert_eq!(control.len(), 7);
            }
        }
    }

    #[test]
    fn compression_violations_are_typed_errors() {
        let c = Compression::default();
        let decode = |wire: &[u8]| {
            let mut d = FrameDecoder::with_compression(c);
            let mut input = BytesMut::from(wire);
            let mut out = [0u8; 64];
            loop {
                match d.decode(&mut input, &mut out) {
                    Ok(Decoded::Partial) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        };
        // RSV1 on a continuation or a control frame.
        let mut wire = compressed_frame(Opcode::Binary, false, true, &[0xf2, 0x48]);
        wire.extend(compressed_frame(Opcode::Continuation, true, true, &[0xcd]));
        assert_eq!(decode(&wire), Err(WsError::ReservedBits));
        let ping = compressed_frame(Opcode::Ping, true, true, b"x");
        assert_eq!(decode(&ping), Err(WsError::ReservedBits));
        // Not deflate: a reserved block type.
        let bad = compressed_frame(Opcode::Binary, true, true, &[0xff, 0xff, 0xff]);
        assert_eq!(decode(&bad), Err(WsError::BadCompressedData));
    }

    #[test]
    fn the_extension_is_offered_and_its_answer_checked() {
        let hs = ClientHandshake::with_compression([1; 16]);
        let mut request = Vec::new();
        hs.request("h", 1, "/", &mut request);
        let request = String::from_utf8(request).unwrap();
        assert!(request.contains(&format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")));
        assert!(request.ends_with("\r\n\r\n"));
        let answer = |ext: &str| {
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n{ext}\r\n",
                hs.expected_accept()
            );
            hs.parse_upgrade(head.as_bytes()).map(|s| match s {
                Status::Complete(u) => u.compression,
                Status::Partial => panic!("complete"),
            })
        };
        assert_eq!(answer(""), Ok(None));
        assert_eq!(
            answer("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"),
            Ok(Some(Compression { server_no_context_takeover: true }))
        );
        assert_eq!(
            answer("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            Ok(Some(Compression {
                server_no_context_takeover: false
            }))
        );
        assert_eq!(
            answer("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"),
            Err(WsError::BadExtension)
        );
        assert_eq!(
            answer("Sec-WebSocket-Extensions: permessage-deflate; unknown_param\r\n"),
            Err(WsError::BadExtension)
        );
        // Not offered: any extension in the answer is refused.
        let plain = ClientHandshake::new([1; 16]);
        let mut request = Vec::new();
        plain.request("h", 1, "/", &mut request);
        assert!(!String::from_utf8(request).unwrap().contains("Extensions"));
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            plain.expected_accept()
        );
        assert_eq!(
            plain.parse_upgrade(head.as_bytes()),
            Err(WsError::BadExtension)
        );
    }
}

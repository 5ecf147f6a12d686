//! The WebSocket layer of a `ws://` / `wss://` transport: proto's sans-IO handshake and
//! frame codec (`natsy_proto::websocket`) with the buffers the socket needs around them.
//! The transport moves bytes; this decides what they mean.

use bytes::{Buf, BytesMut};
use natsy_proto::websocket::{encode_frame, ClientHandshake, Decoded, FrameDecoder, Opcode};
use natsy_proto::Status;
use rand::Rng;

/// Bytes per raw socket read of a WebSocket transport.
const RAW_READ: usize = 64 * 1024;

/// One WebSocket connection's state.
pub(crate) struct WsLayer {
    handshake: ClientHandshake,
    /// The upgrade is done.
    pub(crate) open: bool,
    /// Raw bytes read and not yet decoded (the handshake response, then frames).
    pub(crate) raw_in: BytesMut,
    decoder: FrameDecoder,
    /// Framed bytes not yet taken by the socket (the upgrade request, frames, pongs).
    pub(crate) out: Vec<u8>,
    pub(crate) out_at: usize,
    /// The server closed: nothing more will be decoded.
    pub(crate) closed: bool,
    /// Where raw reads land before their bytes join `raw_in`: zeroed once, so a read
    /// costs a copy of what arrived, not a fill of the whole chunk.
    scratch: Box<[u8]>,
}

/// What [`WsLayer::decode`] found in the raw input.
pub(crate) enum WsRead {
    /// Plain NATS bytes were written to the buffer.
    Data(usize),
    /// More raw input is needed.
    NeedInput,
    /// The server closed the WebSocket.
    Closed,
}

impl WsLayer {
    /// A layer whose upgrade request for `host`:`port``path` is queued to be written,
    /// offering `permessage-deflate` if `compression`.
    pub(crate) fn new(host: &str, port: u16, path: &str, compression: bool) -> Self {
        let key = rand::rng().random();
        let handshake = if compression {
            ClientHandshake::with_compression(key)
        } else {
            ClientHandshake::new(key)
        };
        let mut out = Vec::new();
        handshake.request(host, port, path, &mut out);
        WsLayer {
            handshake,
            open: false,
            raw_in: BytesMut::new(),
            decoder: FrameDecoder::default(),
            out,
            out_at: 0,
            closed: false,
            scratch: vec![0; RAW_READ].into_boxed_slice(),
        }
    }

    /// Framed bytes are waiting for the socket.
    pub(crate) fn has_output(&self) -> bool {
        self.out_at < self.out.len()
    }

    /// The socket took `n` more bytes of the output.
    pub(crate) fn advance_output(&mut self, n: usize) {
        self.out_at += n;
        if self.out_at >= self.out.len() {
            self.out.clear();
            self.out_at = 0;
        }
    }

    /// The room raw reads land in: the caller reads into it, then calls
    /// [`WsLayer::filled`] with the count.
    pub(crate) fn read_room(&mut self) -> &mut [u8] {
        &mut self.scratch
    }

    /// `n` bytes were read into [`WsLayer::read_room`]: they join the raw input.
    pub(crate) fn filled(&mut self, n: usize) {
        self.raw_in
            .extend_from_slice(self.scratch.get(..n).unwrap_or_default());
    }

    /// Checks the server's upgrade response in the raw input: `Ok(true)` once upgraded
    /// (frames that came with it stay in the input).
    pub(crate) fn finish_handshake(&mut self) -> std::io::Result<bool> {
        match self.handshake.parse_upgrade(&self.raw_in) {
            Ok(Status::Complete(upgrade)) => {
                self.raw_in.advance(upgrade.len);
                if let Some(terms) = upgrade.compression {
                    self.decoder = FrameDecoder::with_compression(terms);
                }
                self.open = true;
                Ok(true)
            }
            Ok(Status::Partial) => Ok(false),
            Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }

    /// Decodes frames into `buf`: NATS bytes, or the close; pings are answered by queuing
    /// a pong. Fills `buf` from as many frames as the raw input holds, so a server that
    /// sends a frame per message costs one parse of the batch, not one per frame.
    pub(crate) fn decode(&mut self, buf: &mut [u8]) -> std::io::Result<WsRead> {
        if self.closed {
            return Ok(WsRead::Closed);
        }
        let mut filled = 0;
        loop {
            let Some(room) = buf.get_mut(filled..).filter(|r| !r.is_empty()) else {
                return Ok(WsRead::Data(filled));
            };
            let decoded = self
                .decoder
                .decode(&mut self.raw_in, room)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            match decoded {
                Decoded::Data(n) => filled += n,
                Decoded::Ping(payload) => self.frame(Opcode::Pong, &[&payload]),
                Decoded::Pong => {}
                Decoded::Close(code) => {
                    // Echo the close (RFC 6455 §5.5.1), then the transport ends (after
                    // the bytes decoded before it).
                    let echo = code.map(u16::to_be_bytes);
                    let body: &[u8] = echo.as_ref().map_or(&[], |c| c.as_slice());
                    self.frame(Opcode::Close, &[body]);
                    self.closed = true;
                    return Ok(if filled > 0 {
                        WsRead::Data(filled)
                    } else {
                        WsRead::Closed
                    });
                }
                Decoded::Partial if filled > 0 => return Ok(WsRead::Data(filled)),
                Decoded::Partial => return Ok(WsRead::NeedInput),
            }
        }
    }

    /// Queues one frame of `payload`, masked with a fresh key (RFC 6455 §5.3).
    pub(crate) fn frame(&mut self, opcode: Opcode, payload: &[&[u8]]) {
        encode_frame(opcode, payload, Some(rand::rng().random()), &mut self.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: Opcode, payload: &[u8], wire: &mut BytesMut) {
        let mut v = Vec::new();
        encode_frame(opcode, &[payload], None, &mut v);
        wire.extend_from_slice(&v);
    }

    #[test]
    fn one_decode_takes_every_whole_frame_then_reports_the_close() {
        let mut ws = WsLayer::new("127.0.0.1", 1, "/", false);
        ws.advance_output(ws.out.len());
        let mut wire = BytesMut::new();
        server_frame(Opcode::Binary, b"MSG a 1 2\r\n", &mut wire);
        server_frame(Opcode::Ping, b"p", &mut wire);
        server_frame(Opcode::Binary, b"hi\r\n", &mut wire);
        server_frame(Opcode::Close, &1000u16.to_be_bytes(), &mut wire);
        ws.raw_in = wire;
        let mut buf = [0u8; 64];
        match ws.decode(&mut buf).unwrap() {
            WsRead::Data(n) => assert_eq!(&buf[..n], b"MSG a 1 2\r\nhi\r\n"),
            _ => panic!("expected data"),
        }
        // The ping was answered and the close echoed, in that order.
        let mut expect = Vec::new();
        encode_frame(Opcode::Pong, &[b"p"], Some([0; 4]), &mut expect);
        assert_eq!(ws.out[0] & 0x0F, 0xA);
        assert_eq!(ws.out[expect.len()] & 0x0F, 0x8);
        assert!(matches!(ws.decode(&mut buf).unwrap(), WsRead::Closed));
    }

    #[test]
    fn a_small_buffer_is_filled_and_the_rest_waits() {
        let mut ws = WsLayer::new("127.0.0.1", 1, "/", false);
        let mut wire = BytesMut::new();
        server_frame(Opcode::Binary, b"abc", &mut wire);
        server_frame(Opcode::Binary, b"defg", &mut wire);
        ws.raw_in = wire;
        let mut buf = [0u8; 5];
        assert!(matches!(ws.decode(&mut buf).unwrap(), WsRead::Data(5)));
        assert_eq!(&buf, b"abcde");
        assert!(matches!(ws.decode(&mut buf).unwrap(), WsRead::Data(2)));
        assert_eq!(&buf[..2], b"fg");
        assert!(matches!(ws.decode(&mut buf).unwrap(), WsRead::NeedInput));
    }
}

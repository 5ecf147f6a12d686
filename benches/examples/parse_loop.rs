//! Parses a buffer of MSG frames many times, for instruction-level profiling:
//! `valgrind --tool=callgrind target/release/examples/parse_loop [payload] [rounds] [headers]`
//! (with `headers` > 0 the frames are HMSG with that many headers).

use bytes::BytesMut;
use natsy_benches::{hmsg_frames, msg_frames};
use natsy_proto::{ServerOp, ServerOpParser, Status};

fn main() {
    let mut args = std::env::args().skip(1);
    let payload: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let headers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let frames = 10_000;
    let input = if headers > 0 {
        hmsg_frames(frames, payload, headers)
    } else {
        msg_frames(frames, payload)
    };
    let mut parser = ServerOpParser::default();
    let mut buf = BytesMut::with_capacity(input.len());
    let mut total = 0usize;
    for _ in 0..rounds {
        buf.extend_from_slice(&input);
        while let Ok(Status::Complete(op)) = parser.parse(&mut buf) {
            if let ServerOp::Msg(m) = op {
                total += m.payload().len();
            }
        }
    }
    assert_eq!(total, frames * rounds * payload);
    println!("{} frames", frames * rounds);
}

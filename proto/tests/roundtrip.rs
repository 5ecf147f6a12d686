//! Property test: whatever the encoder writes, the client-op parser reads back as the same
//! ops, however the bytes are chunked.

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};
use natsy_proto::{headers, ClientOp, ClientOpParser, HeaderMap, OutQueue, ParserLimits, Status};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Pub {
        subject: String,
        reply: Option<String>,
        headers: Vec<(String, String)>,
        payload: Vec<u8>,
    },
    Sub {
        subject: String,
        queue: Option<String>,
        sid: u64,
    },
    Unsub {
        sid: u64,
        max: Option<u64>,
    },
    Ping,
    Pong,
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_\\-]{1,12}"
}

fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..5).prop_map(|t| t.join("."))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            subject(),
            prop::option::of(subject()),
            prop::collection::vec(("[A-Za-z][A-Za-z0-9\\-]{0,10}", "[ -~]{0,20}"), 0..4),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(subject, reply, headers, payload)| Op::Pub {
                subject,
                reply,
                headers,
                payload
            }),
        (subject(), prop::option::of(token()), 1u64..u64::MAX).prop_map(|(subject, queue, sid)| {
            Op::Sub {
                subject,
                queue,
                sid,
            }
        }),
        (1u64..u64::MAX, prop::option::of(any::<u64>()))
            .prop_map(|(sid, max)| Op::Unsub { sid, max }),
        Just(Op::Ping),
        Just(Op::Pong),
    ]
}

fn encode(q: &mut OutQueue, op: &Op) -> Option<HeaderMap> {
    match op {
        Op::Pub {
            subject,
            reply,
            headers,
            payload,
        } => {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.append(k, v).expect("generated headers are valid");
            }
            let map = (!headers.is_empty()).then_some(map);
            q.publish(
                subject,
                reply.as_deref(),
                map.as_ref(),
                Bytes::from(payload.clone()),
                None,
            )
            .expect("generated publish is valid");
            map
        }
        Op::Sub {
            subject,
            queue,
            sid,
        } => {
            q.subscribe(subject, queue.as_deref(), *sid)
                .expect("valid subscribe");
            None
        }
        Op::Unsub { sid, max } => {
            q.unsubscribe(*sid, *max);
            None
        }
        Op::Ping => {
            q.ping();
            None
        }
        Op::Pong => {
            q.pong();
            None
        }
    }
}

fn same(op: &Op, map: &Option<HeaderMap>, parsed: &ClientOp) -> bool {
    match (op, parsed) {
        (
            Op::Pub {
                subject,
                reply,
                payload,
                ..
            },
            ClientOp::Pub {
                subject: s,
                reply: r,
                headers: h,
                payload: p,
            },
        ) => {
            let headers_match = match (map, h) {
                (None, None) => true,
                (Some(m), Some(block)) => headers::parse_block(block)
                    .map(|b| &b.headers == m)
                    .unwrap_or(false),
                _ => false,
            };
            s == subject.as_bytes()
                && r.as_deref() == reply.as_deref().map(str::as_bytes)
                && p == payload.as_slice()
                && headers_match
        }
        (
            Op::Sub {
                subject,
                queue,
                sid,
            },
            ClientOp::Sub {
                subject: s,
                queue: q,
                sid: i,
            },
        ) => {
            s == subject.as_bytes()
                && q.as_deref() == queue.as_deref().map(str::as_bytes)
                && i == sid
        }
        (Op::Unsub { sid, max }, ClientOp::Unsub { sid: i, max: m }) => i == sid && m == max,
        (Op::Ping, ClientOp::Ping) | (Op::Pong, ClientOp::Pong) => true,
        _ => false,
    }
}

proptest! {
    #[test]
    fn encoded_ops_parse_back_whatever_the_chunking(
        ops in prop::collection::vec(op(), 1..20),
        chunk in 1usize..64,
    ) {
        let mut q = OutQueue::new();
        let maps: Vec<_> = ops.iter().map(|op| encode(&mut q, op)).collect();
        let mut wire = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); 8];
            let n = q.io_slices(&mut slices);
            let before = wire.len();
            for s in &slices[..n] {
                wire.extend_from_slice(s);
            }
            q.advance(wire.len() - before);
        }
        let mut parser = ClientOpParser::new(ParserLimits::default());
        let mut buf = BytesMut::new();
        let mut parsed = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Status::Complete(op) = parser.parse(&mut buf).expect("own output parses") {
                parsed.push(op);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(parsed.len(), ops.len());
        for ((op, map), got) in ops.iter().zip(&maps).zip(&parsed) {
            prop_assert!(same(op, map, got), "{:?} came back as {:?}", op, got);
        }
    }
}

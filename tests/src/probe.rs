//! Talks to a running server with nothing but `std::net`: reads the `INFO` line a client
//! gets on connect, and makes plain HTTP/1.0 requests to the monitoring port.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::HarnessError;

/// The longest `INFO` line the probe accepts.
const MAX_INFO_LINE: usize = 64 * 1024;

/// Connects to `127.0.0.1:port`, reads the first protocol line and parses the JSON of its
/// `INFO {...}`.
///
/// Fails with [`HarnessError::Probe`] when the line is not `INFO` or not valid JSON, and
/// with [`HarnessError::Io`] when nothing arrives within `timeout`.
pub fn read_info(port: u16, timeout: Duration) -> Result<Value, HarnessError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| HarnessError::io(format!("connecting to {addr}"), e))?;
    read_info_from(&stream, timeout)
}

/// Reads and parses the `INFO` line from an already connected stream.
///
/// Reads byte by byte, so nothing after the line is consumed and the caller can keep
/// using the stream for raw protocol.
pub fn read_info_from(stream: &TcpStream, timeout: Duration) -> Result<Value, HarnessError> {
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| HarnessError::io("setting a read timeout", e))?;
    let mut line = Vec::new();
    let mut reader = stream;
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        if line.len() >= MAX_INFO_LINE {
            return Err(HarnessError::Probe {
                what: "INFO line".to_string(),
                detail: format!("longer than {MAX_INFO_LINE} bytes"),
            });
        }
        let n = reader
            .read(&mut byte)
            .map_err(|e| HarnessError::io("reading INFO", e))?;
        if n == 0 {
            return Err(HarnessError::Probe {
                what: "INFO line".to_string(),
                detail: format!(
                    "connection closed after {:?}",
                    String::from_utf8_lossy(&line)
                ),
            });
        }
        line.push(byte[0]);
    }
    parse_info_line(&String::from_utf8_lossy(&line))
}

/// Parses one `INFO {...}\r\n` line into its JSON object.
pub fn parse_info_line(line: &str) -> Result<Value, HarnessError> {
    let probe_err = |detail: String| HarnessError::Probe {
        what: "INFO line".to_string(),
        detail,
    };
    let json = line
        .strip_prefix("INFO ")
        .ok_or_else(|| probe_err(format!("expected `INFO {{...}}`, got {line:?}")))?;
    let value: Value = serde_json::from_str(json.trim_end())
        .map_err(|e| probe_err(format!("bad JSON ({e}) in {line:?}")))?;
    if !value.is_object() {
        return Err(probe_err(format!("INFO is not a JSON object: {line:?}")));
    }
    Ok(value)
}

/// Sends `GET <path> HTTP/1.0` to `127.0.0.1:port` and returns the status code and body.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String), HarnessError> {
    let what = format!("GET {path} on 127.0.0.1:{port}");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| HarnessError::io(what.clone(), e))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| HarnessError::io(what.clone(), e))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| HarnessError::io(what.clone(), e))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| HarnessError::io(what.clone(), e))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| HarnessError::Probe {
            what: what.clone(),
            detail: format!("no header/body separator in {response:?}"),
        })?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HarnessError::Probe {
            what: what.clone(),
            detail: format!("no status code in {head:?}"),
        })?;
    Ok((status, body.to_string()))
}

/// Like [`http_get`], but requires status 200 and parses the body as JSON.
pub fn http_get_json(port: u16, path: &str, timeout: Duration) -> Result<Value, HarnessError> {
    let (status, body) = http_get(port, path, timeout)?;
    let what = format!("GET {path} on 127.0.0.1:{port}");
    if status != 200 {
        return Err(HarnessError::Probe {
            what,
            detail: format!("status {status}: {body}"),
        });
    }
    serde_json::from_str(&body).map_err(|e| HarnessError::Probe {
        what,
        detail: format!("bad JSON ({e}): {body}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_info_line() {
        let v = parse_info_line("INFO {\"port\":4222,\"headers\":true}\r\n").unwrap();
        assert_eq!(v["port"], 4222);
        assert_eq!(v["headers"], true);
    }

    #[test]
    fn rejects_other_lines() {
        assert!(parse_info_line("PING\r\n").is_err());
        assert!(parse_info_line("INFO {not json}\r\n").is_err());
        assert!(parse_info_line("INFO [1]\r\n").is_err());
        assert!(parse_info_line("").is_err());
    }
}

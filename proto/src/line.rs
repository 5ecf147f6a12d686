//! Shared scanning helpers for the two op parsers: finding the end of a control line,
//! matching op names, splitting arguments and reading decimal numbers.
//!
//! Everything here works on byte slices, never allocates and never panics: every index
//! it hands out was produced by scanning the very slice it refers to.

use crate::error::ProtocolError;

/// The most arguments any op takes (`HMSG <subj> <sid> <reply> <#hdr> <#total>`).
pub(crate) const MAX_ARGS: usize = 5;

/// True for the two bytes that separate arguments.
#[inline(always)]
pub(crate) fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Where a control line ends, and how much scanning it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// The LF is at this index of the buffer.
    Found(usize),
    /// No LF yet; the first `scanned` bytes are known to hold none.
    Pending {
        /// Bytes already searched, to resume from next time.
        scanned: usize,
    },
}

/// Looks for the LF ending the control line at the front of `buf`, resuming after the
/// `scanned` bytes already searched and never searching past `max_line` bytes.
///
/// `work` grows by the number of bytes searched, so tests can check that the total stays
/// linear in the input. A line whose LF would sit past `max_line` bytes (CRLF included)
/// is refused even before its LF arrives.
#[inline]
pub(crate) fn find_line_end(
    buf: &[u8],
    scanned: usize,
    max_line: usize,
    work: &mut u64,
) -> Result<LineEnd, ProtocolError> {
    let window_end = buf.len().min(max_line);
    let window = buf.get(scanned..window_end).unwrap_or_default();
    *work = work.wrapping_add(window.len() as u64);
    match memchr::memchr(b'\n', window) {
        Some(i) => Ok(LineEnd::Found(scanned + i)),
        None if buf.len() >= max_line && !buf.is_empty() => {
            Err(ProtocolError::ControlLineTooLong { limit: max_line })
        }
        None => Ok(LineEnd::Pending {
            scanned: window_end.max(scanned),
        }),
    }
}

/// The control line before the LF at `lf`, with one trailing CR dropped.
#[inline]
pub(crate) fn line_content(buf: &[u8], lf: usize) -> &[u8] {
    let line = buf.get(..lf).unwrap_or_default();
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// How the start of a control line relates to one op name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpMatch {
    /// The line does not start with this name.
    No,
    /// The line is exactly the name: no arguments.
    Bare,
    /// The name is followed by a separator; arguments start at this index.
    Args(usize),
    /// The name is followed by something else (`MSGfoo`).
    Glued,
}

/// Matches `name` (upper-case ASCII) case-insensitively at the start of `line`.
#[inline]
pub(crate) fn match_op(line: &[u8], name: &[u8]) -> OpMatch {
    match line.get(..name.len()) {
        Some(head) if head.eq_ignore_ascii_case(name) => match line.get(name.len()) {
            None => OpMatch::Bare,
            Some(&b) if is_sep(b) => OpMatch::Args(name.len()),
            Some(_) => OpMatch::Glued,
        },
        _ => OpMatch::No,
    }
}

/// True when `line` starts with `name` (upper-case ASCII), in any case. Used by
/// `PING`, `PONG` and `+OK`, after which anything up to the LF is ignored.
#[inline]
pub(crate) fn starts_with_op(line: &[u8], name: &[u8]) -> bool {
    line.get(..name.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(name))
}

/// The arguments of a control line as index ranges into the line; at most [`MAX_ARGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Args {
    ranges: [(usize, usize); MAX_ARGS],
    len: usize,
}

impl Args {
    /// How many arguments there are.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The range of argument `i`; an empty range when out of bounds.
    #[inline]
    pub(crate) fn range(&self, i: usize) -> (usize, usize) {
        self.ranges.get(i).copied().unwrap_or_default()
    }
}

/// Splits `line[start..]` at runs of SP/TAB. Returns `None` for more than [`MAX_ARGS`]
/// arguments.
#[inline]
pub(crate) fn split_args(line: &[u8], start: usize) -> Option<Args> {
    let mut args = Args {
        ranges: [(0, 0); MAX_ARGS],
        len: 0,
    };
    let mut i = start;
    // Two tight loops per argument (skip separators, then skip the argument) instead of
    // one loop with a state per byte: fewer branches on the hot path.
    loop {
        while line.get(i).is_some_and(|&b| is_sep(b)) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let arg_start = i;
        while line.get(i).is_some_and(|&b| !is_sep(b)) {
            i += 1;
        }
        let slot = args.ranges.get_mut(args.len)?;
        *slot = (arg_start, i);
        args.len += 1;
    }
}

/// The bytes of `line` in range `r`; empty if the range does not fit (it always does
/// for ranges made by [`split_args`] on the same line).
#[inline(always)]
pub(crate) fn slice(line: &[u8], r: (usize, usize)) -> &[u8] {
    line.get(r.0..r.1).unwrap_or_default()
}

/// Parses an unsigned decimal number: digits only, non-empty, no sign, overflow-checked.
#[inline]
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(value)
}

/// Skips SP/TAB at the start of `s`.
#[inline]
pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_sep(b)).count();
    s.get(n..).unwrap_or_default()
}

/// Checks that `bytes` is UTF-8, as subjects, replies and queue names must be.
#[inline]
pub(crate) fn check_utf8(bytes: &[u8]) -> Result<(), ProtocolError> {
    // ASCII is by far the common case and much cheaper to confirm.
    if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
        Ok(())
    } else {
        Err(ProtocolError::InvalidUtf8)
    }
}

/// Sizes of a frame with a payload, checked against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameSize {
    /// Header block length (0 without headers).
    pub(crate) hdr: usize,
    /// Headers plus payload.
    pub(crate) total: usize,
    /// Bytes of the whole frame: control line with its LF, total, and the final CRLF.
    pub(crate) needed: usize,
}

/// The largest frame a [`crate::Message`] can describe (its offsets are `u32`).
pub(crate) const MAX_FRAME: usize = u32::MAX as usize;

/// Parses `#hdr` (if any) and `#total`, and checks them against `max_payload` and the
/// frame size limit. `line_len` is the control line length including its LF.
#[inline]
pub(crate) fn frame_size(
    op: &'static str,
    hdr: Option<&[u8]>,
    total: &[u8],
    max_payload: usize,
    line_len: usize,
) -> Result<FrameSize, ProtocolError> {
    let total = parse_u64(total).ok_or(ProtocolError::InvalidNumber { op })?;
    let hdr = match hdr {
        Some(h) => parse_u64(h).ok_or(ProtocolError::InvalidNumber { op })?,
        None => 0,
    };
    if hdr > total {
        return Err(ProtocolError::HeaderSizeExceedsTotal);
    }
    // Cap the limit so that the whole frame still fits the message's u32 offsets.
    let limit = max_payload.min(MAX_FRAME.saturating_sub(line_len).saturating_sub(2));
    let too_large = ProtocolError::PayloadTooLarge { size: total, limit };
    let total = usize::try_from(total).map_err(|_| too_large.clone())?;
    if total > limit {
        return Err(too_large);
    }
    // Cannot overflow: total <= MAX_FRAME - line_len - 2. Checked anyway.
    let needed = line_len
        .checked_add(total)
        .and_then(|n| n.checked_add(2))
        .ok_or(too_large)?;
    // hdr <= total, so this conversion cannot fail either.
    let hdr = usize::try_from(hdr).unwrap_or(total);
    Ok(FrameSize { hdr, total, needed })
}

/// The arguments of a control line that announces a payload:
/// `<subject> [<fixed>...] [reply] [<#hdr>] <#total>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// The split arguments (for the fixed ones between subject and reply).
    pub(crate) args: Args,
    /// The subject's range in the line.
    pub(crate) subject: (usize, usize),
    /// The reply's range in the line, when there is one.
    pub(crate) reply: Option<(usize, usize)>,
    /// The frame's sizes, checked against the limits.
    pub(crate) size: FrameSize,
}

/// Reads the arguments of `PUB`/`HPUB` (`fixed` = 0) or `MSG`/`HMSG` (`fixed` = 1: the
/// sid) from `line[at..]`: subject, `fixed` more arguments, an optional reply, then one
/// size (or two with `has_headers`). Subject and reply must be UTF-8.
#[inline]
pub(crate) fn frame_header(
    op: &'static str,
    line: &[u8],
    at: usize,
    line_len: usize,
    has_headers: bool,
    fixed: usize,
    max_payload: usize,
) -> Result<FrameHeader, ProtocolError> {
    let args = split_args(line, at).ok_or(ProtocolError::InvalidArguments { op })?;
    let sizes = if has_headers { 2 } else { 1 };
    let has_reply = match args.len().checked_sub(1 + fixed + sizes) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(ProtocolError::InvalidArguments { op }),
    };
    let last = args.len().saturating_sub(1);
    let hdr = has_headers.then(|| slice(line, args.range(last.saturating_sub(1))));
    let size = frame_size(
        op,
        hdr,
        slice(line, args.range(last)),
        max_payload,
        line_len,
    )?;
    let subject = args.range(0);
    check_utf8(slice(line, subject))?;
    let reply = if has_reply {
        let reply = args.range(1 + fixed);
        check_utf8(slice(line, reply))?;
        Some(reply)
    } else {
        None
    };
    Ok(FrameHeader {
        args,
        subject,
        reply,
        size,
    })
}

/// Checks that the frame's payload is followed by exactly CRLF.
#[inline]
pub(crate) fn check_terminator(buf: &[u8], needed: usize) -> Result<(), ProtocolError> {
    match buf.get(needed.wrapping_sub(2)..needed) {
        Some(b"\r\n") => Ok(()),
        _ => Err(ProtocolError::MissingPayloadTerminator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unsigned_decimal_and_overflow_checked() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"0012"), Some(12));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"99999999999999999999999"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b"1a"), None);
        assert_eq!(parse_u64(b"1 "), None);
    }

    #[test]
    fn arguments_split_on_runs_of_spaces_and_tabs() {
        let line = b"MSG \t a.b  \t 12\tr  5 ";
        let args = split_args(line, 3).unwrap();
        assert_eq!(args.len(), 4);
        let got: Vec<&[u8]> = (0..args.len())
            .map(|i| slice(line, args.range(i)))
            .collect();
        assert_eq!(got, [&b"a.b"[..], b"12", b"r", b"5"]);
        assert_eq!(split_args(b"X", 1).unwrap().len(), 0);
        assert_eq!(split_args(b"X   ", 1).unwrap().len(), 0);
        assert!(split_args(b"X 1 2 3 4 5", 1).is_some());
        assert!(split_args(b"X 1 2 3 4 5 6", 1).is_none());
        assert_eq!(args.range(7), (0, 0));
    }

    proptest::proptest! {
        /// The word-at-a-time splitter agrees with the obvious one on any line, any start.
        #[test]
        fn swar_split_matches_a_plain_split(
            line in proptest::collection::vec(
                proptest::prop_oneof![
                    Just(b' '), Just(b'\t'), Just(b'a'), Just(0u8), Just(0x80u8), Just(0xA0u8), Just(0x29u8)
                ],
                0..40,
            ),
            start in 0usize..45,
        ) {
            let plain: Vec<(usize, usize)> = {
                let mut out = Vec::new();
                let mut i = start.min(line.len());
                while i < line.len() {
                    while i < line.len() && is_sep(line[i]) { i += 1; }
                    let s = i;
                    while i < line.len() && !is_sep(line[i]) { i += 1; }
                    if i > s { out.push((s, i)); }
                }
                out
            };
            match split_args(&line, start) {
                Some(args) => {
                    let got: Vec<_> = (0..args.len()).map(|i| args.range(i)).collect();
                    proptest::prop_assert_eq!(got, plain);
                }
                None => proptest::prop_assert!(plain.len() > MAX_ARGS),
            }
        }
    }

    use proptest::strategy::Just;

    #[test]
    fn op_names_match_case_insensitively_and_need_a_separator() {
        assert_eq!(match_op(b"msg a", b"MSG"), OpMatch::Args(3));
        assert_eq!(match_op(b"MsG\ta", b"MSG"), OpMatch::Args(3));
        assert_eq!(match_op(b"MSG", b"MSG"), OpMatch::Bare);
        assert_eq!(match_op(b"MSGfoo", b"MSG"), OpMatch::Glued);
        assert_eq!(match_op(b"MS", b"MSG"), OpMatch::No);
        assert_eq!(match_op(b"HMSG a", b"MSG"), OpMatch::No);
        assert!(starts_with_op(b"pInGxyz", b"PING"));
        assert!(!starts_with_op(b"PIN", b"PING"));
    }

    #[test]
    fn line_end_resumes_and_respects_the_limit() {
        let mut work = 0;
        assert_eq!(
            find_line_end(b"PIN", 0, 10, &mut work),
            Ok(LineEnd::Pending { scanned: 3 })
        );
        assert_eq!(
            find_line_end(b"PING\r\n", 3, 10, &mut work),
            Ok(LineEnd::Found(5))
        );
        assert_eq!(work, 6);
        // A 10-byte line (CRLF included) fits a limit of 10; an 11-byte one does not.
        assert_eq!(
            find_line_end(b"12345678\r\n", 0, 10, &mut work),
            Ok(LineEnd::Found(9))
        );
        let err = Err(ProtocolError::ControlLineTooLong { limit: 10 });
        assert_eq!(find_line_end(b"123456789\r\n", 0, 10, &mut work), err);
        // Refused before the LF arrives, once the limit is reached without one.
        assert_eq!(find_line_end(b"1234567890", 0, 10, &mut work), err);
        assert_eq!(
            find_line_end(b"123456789", 0, 10, &mut work),
            Ok(LineEnd::Pending { scanned: 9 })
        );
        assert_eq!(line_content(b"PING\r\n", 5), b"PING");
        assert_eq!(line_content(b"PING\n", 4), b"PING");
    }

    #[test]
    fn frame_sizes_are_checked() {
        let fs = frame_size("HMSG", Some(b"3"), b"10", 100, 20).unwrap();
        assert_eq!(
            fs,
            FrameSize {
                hdr: 3,
                total: 10,
                needed: 32
            }
        );
        assert_eq!(
            frame_size("HMSG", Some(b"11"), b"10", 100, 20),
            Err(ProtocolError::HeaderSizeExceedsTotal)
        );
        assert_eq!(
            frame_size("MSG", None, b"101", 100, 20),
            Err(ProtocolError::PayloadTooLarge {
                size: 101,
                limit: 100
            })
        );
        assert_eq!(
            frame_size("MSG", None, b"x", 100, 20),
            Err(ProtocolError::InvalidNumber { op: "MSG" })
        );
        let huge = frame_size("MSG", None, b"4294967295", usize::MAX, 20);
        assert!(matches!(huge, Err(ProtocolError::PayloadTooLarge { .. })));
    }
}

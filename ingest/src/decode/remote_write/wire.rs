//! A zero-copy reader of `prometheus.WriteRequest`. The decoder needs only
//! the labels and samples of each series, read once; decoding into prost's
//! owned messages spent a quarter of the time reference-counting label
//! `Bytes`, so the walk here borrows from the decompressed body instead.
//! The wire primitives (keys, varints, skipping unknown fields) are prost's.

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use super::super::otlp::protobuf_error;
use crate::decode::{DecodeError, DecodeReason};

/// The top level of a request: each series still encoded, and the metadata.
pub(super) struct RequestView<'a> {
    /// `timeseries` (field 1), each an encoded `TimeSeries`.
    pub series: Vec<&'a [u8]>,
    /// `metadata` (field 3) as (type, family name).
    pub metadata: Vec<(i32, &'a [u8])>,
}

/// One series, read into buffers the caller reuses.
pub(super) struct SeriesView<'a> {
    /// (name, value) pairs as sent.
    pub labels: Vec<(&'a [u8], &'a [u8])>,
    /// (value, timestamp in ms).
    pub samples: Vec<(f64, i64)>,
    /// Whether the series carries native histograms (field 4).
    pub has_histograms: bool,
}

fn wrong_wire_type(what: &str, found: WireType) -> DecodeError {
    DecodeError::new(
        DecodeReason::InvalidProtobuf,
        format!("{what} has wire type {found:?}"),
    )
}

/// Splits off a length-delimited field's bytes.
fn delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = decode_varint(buf).map_err(protobuf_error)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > buf.len() {
        return Err(DecodeError::new(
            DecodeReason::InvalidProtobuf,
            format!(
                "a field claims {len} bytes; {} are left (truncated?)",
                buf.len()
            ),
        ));
    }
    let (field, rest) = buf.split_at(len);
    *buf = rest;
    Ok(field)
}

/// Visits every field of `buf`: `f` handles the tags it knows and returns
/// `false` for the others, which are skipped as protobuf requires.
fn fields<'a>(
    mut buf: &'a [u8],
    mut f: impl FnMut(u32, WireType, &mut &'a [u8]) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf).map_err(protobuf_error)?;
        if !f(tag, wire, &mut buf)? {
            skip_field(wire, tag, &mut buf, DecodeContext::default()).map_err(protobuf_error)?;
        }
    }
    Ok(())
}

/// Reads the top level of a `WriteRequest`.
pub(super) fn read_request(buf: &[u8]) -> Result<RequestView<'_>, DecodeError> {
    let mut view = RequestView {
        series: Vec::new(),
        metadata: Vec::new(),
    };
    fields(buf, |tag, wire, buf| match (tag, wire) {
        (1, WireType::LengthDelimited) => {
            view.series.push(delimited(buf)?);
            Ok(true)
        }
        (3, WireType::LengthDelimited) => {
            view.metadata.push(read_metadata(delimited(buf)?)?);
            Ok(true)
        }
        (1 | 3, other) => Err(wrong_wire_type("a WriteRequest field", other)),
        _ => Ok(false),
    })?;
    Ok(view)
}

fn read_metadata(buf: &[u8]) -> Result<(i32, &[u8]), DecodeError> {
    let (mut kind, mut family) = (0, &[][..]);
    fields(buf, |tag, wire, buf| match (tag, wire) {
        (1, WireType::Varint) => {
            kind = decode_varint(buf).map_err(protobuf_error)? as i32;
            Ok(true)
        }
        (2, WireType::LengthDelimited) => {
            family = delimited(buf)?;
            Ok(true)
        }
        (1 | 2, other) => Err(wrong_wire_type("a MetricMetadata field", other)),
        _ => Ok(false),
    })?;
    Ok((kind, family))
}

/// Reads one encoded `TimeSeries` into `out` (cleared first).
pub(super) fn read_series<'a>(buf: &'a [u8], out: &mut SeriesView<'a>) -> Result<(), DecodeError> {
    out.labels.clear();
    out.samples.clear();
    out.has_histograms = false;
    fields(buf, |tag, wire, buf| match (tag, wire) {
        (1, WireType::LengthDelimited) => {
            out.labels.push(read_label(delimited(buf)?)?);
            Ok(true)
        }
        (2, WireType::LengthDelimited) => {
            out.samples.push(read_sample(delimited(buf)?)?);
            Ok(true)
        }
        (4, WireType::LengthDelimited) => {
            delimited(buf)?;
            out.has_histograms = true;
            Ok(true)
        }
        (1 | 2 | 4, other) => Err(wrong_wire_type("a TimeSeries field", other)),
        _ => Ok(false),
    })
}

fn read_label(buf: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let (mut name, mut value) = (&[][..], &[][..]);
    fields(buf, |tag, wire, buf| match (tag, wire) {
        (1, WireType::LengthDelimited) => {
            name = delimited(buf)?;
            Ok(true)
        }
        (2, WireType::LengthDelimited) => {
            value = delimited(buf)?;
            Ok(true)
        }
        (1 | 2, other) => Err(wrong_wire_type("a Label field", other)),
        _ => Ok(false),
    })?;
    Ok((name, value))
}

fn read_sample(buf: &[u8]) -> Result<(f64, i64), DecodeError> {
    let (mut value, mut ts) = (0.0, 0);
    fields(buf, |tag, wire, buf| match (tag, wire) {
        (1, WireType::SixtyFourBit) => {
            let Some((bytes, rest)) = buf.split_first_chunk::<8>() else {
                return Err(DecodeError::new(
                    DecodeReason::InvalidProtobuf,
                    "a sample value is cut short",
                ));
            };
            value = f64::from_le_bytes(*bytes);
            *buf = rest;
            Ok(true)
        }
        (2, WireType::Varint) => {
            // int64 on the wire: two's complement in a 64-bit varint.
            ts = decode_varint(buf).map_err(protobuf_error)? as i64;
            Ok(true)
        }
        (1 | 2, other) => Err(wrong_wire_type("a Sample field", other)),
        _ => Ok(false),
    })?;
    Ok((value, ts))
}

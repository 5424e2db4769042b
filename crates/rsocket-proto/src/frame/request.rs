//! REQUEST_RESPONSE (0x04), REQUEST_FNF (0x05), REQUEST_STREAM (0x06) and REQUEST_CHANNEL (0x07).
//!
//! The four request frames share one layout: an optional initial request-n (streams and
//! channels), optional metadata with a 24-bit length prefix, then data. F (follows) marks the
//! first fragment of a fragmented request; REQUEST_CHANNEL also has C (the requester's side is
//! complete).

use bytes::BufMut;

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};
use crate::Payload;

/// REQUEST_RESPONSE: one request, one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestResponse {
    /// The new stream.
    pub stream_id: StreamId,
    /// F flag: fragments follow.
    pub follows: bool,
    /// The request.
    pub payload: Payload,
}

/// REQUEST_FNF: a request with no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFnf {
    /// The new stream.
    pub stream_id: StreamId,
    /// F flag: fragments follow.
    pub follows: bool,
    /// The request.
    pub payload: Payload,
}

/// REQUEST_STREAM: one request, a stream of responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestStream {
    /// The new stream.
    pub stream_id: StreamId,
    /// F flag: fragments follow.
    pub follows: bool,
    /// Initial credit granted to the responder (the spec requires > 0).
    pub initial_n: u32,
    /// The request.
    pub payload: Payload,
}

/// REQUEST_CHANNEL: a stream of requests and a stream of responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestChannel {
    /// The new stream.
    pub stream_id: StreamId,
    /// F flag: fragments follow.
    pub follows: bool,
    /// C flag: this is the requester's only payload.
    pub complete: bool,
    /// Initial credit granted to the responder (the spec requires > 0).
    pub initial_n: u32,
    /// The first request payload.
    pub payload: Payload,
}

fn header(stream_id: StreamId, t: FrameType, follows: bool, p: &Payload) -> Header {
    Header {
        stream_id,
        frame_type: t,
        flags: super::metadata_flag(p).with(Flags::FOLLOWS, follows),
    }
}

impl Body for RequestResponse {
    fn header(&self) -> Header {
        header(
            self.stream_id,
            FrameType::REQUEST_RESPONSE,
            self.follows,
            &self.payload,
        )
    }
    fn body_len(&self) -> usize {
        super::payload_len(&self.payload)
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        super::put_payload(dst, &self.payload);
    }
    fn encode_head(&self, dst: &mut impl BufMut) {
        super::put_metadata(dst, &self.payload);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(RequestResponse {
            stream_id: h.stream_id,
            follows: h.flags.contains(Flags::FOLLOWS),
            payload: r.payload(h.flags.contains(Flags::METADATA))?,
        })
    }
}

impl Body for RequestFnf {
    fn header(&self) -> Header {
        header(
            self.stream_id,
            FrameType::REQUEST_FNF,
            self.follows,
            &self.payload,
        )
    }
    fn body_len(&self) -> usize {
        super::payload_len(&self.payload)
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        super::put_payload(dst, &self.payload);
    }
    fn encode_head(&self, dst: &mut impl BufMut) {
        super::put_metadata(dst, &self.payload);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(RequestFnf {
            stream_id: h.stream_id,
            follows: h.flags.contains(Flags::FOLLOWS),
            payload: r.payload(h.flags.contains(Flags::METADATA))?,
        })
    }
}

impl Body for RequestStream {
    fn header(&self) -> Header {
        header(
            self.stream_id,
            FrameType::REQUEST_STREAM,
            self.follows,
            &self.payload,
        )
    }
    fn body_len(&self) -> usize {
        4 + super::payload_len(&self.payload)
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.initial_n);
        super::put_payload(dst, &self.payload);
    }
    fn encode_head(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.initial_n);
        super::put_metadata(dst, &self.payload);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let initial_n = r.u32("initial request-n")?;
        Ok(RequestStream {
            stream_id: h.stream_id,
            follows: h.flags.contains(Flags::FOLLOWS),
            initial_n,
            payload: r.payload(h.flags.contains(Flags::METADATA))?,
        })
    }
}

impl Body for RequestChannel {
    fn header(&self) -> Header {
        let mut h = header(
            self.stream_id,
            FrameType::REQUEST_CHANNEL,
            self.follows,
            &self.payload,
        );
        h.flags = h.flags.with(Flags::COMPLETE, self.complete);
        h
    }
    fn body_len(&self) -> usize {
        4 + super::payload_len(&self.payload)
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.initial_n);
        super::put_payload(dst, &self.payload);
    }
    fn encode_head(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.initial_n);
        super::put_metadata(dst, &self.payload);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let initial_n = r.u32("initial request-n")?;
        Ok(RequestChannel {
            stream_id: h.stream_id,
            follows: h.flags.contains(Flags::FOLLOWS),
            complete: h.flags.contains(Flags::COMPLETE),
            initial_n,
            payload: r.payload(h.flags.contains(Flags::METADATA))?,
        })
    }
}

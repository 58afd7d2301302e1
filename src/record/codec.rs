//! The byte codec of recording frames: little-endian fixed widths, LEB128 varints, zigzag for
//! signed residuals, length-prefixed strings and lists. [`Enc`] appends to a buffer; [`Dec`] reads
//! one back and fails with [`Short`] or [`DecodeError`] instead of panicking on bad input.

use crate::socket::Endpoint;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a frame's body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the frame ends early")]
    Short,
    #[error("a varint is longer than 64 bits")]
    LongVarint,
    #[error("a string is not UTF-8")]
    Utf8,
    #[error("bad {0}")]
    Bad(&'static str),
}

pub use DecodeError::Short;

/// Appends encoded values to a buffer.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    pub fn zigzag(&mut self, v: i64) {
        self.var(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn str(&mut self, s: &str) {
        self.var(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }

    /// An IP address without its family (the caller writes that once for both ends).
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.0.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => self.0.extend_from_slice(&a.octets()),
        }
    }

    pub fn endpoint(&mut self, e: Endpoint) {
        self.ip(e.ip);
        self.u16(e.port);
    }

    /// Sorted ports as a count and the gaps between them.
    pub fn ports(&mut self, ports: &[u16]) {
        self.var(ports.len() as u64);
        let mut last = 0u16;
        for p in ports {
            self.var(u64::from(p.wrapping_sub(last)));
            last = *p;
        }
    }
}

/// Reads encoded values from a frame's body.
pub struct Dec<'a> {
    buf: &'a [u8],
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(Short);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::LongVarint)
    }

    /// A varint that must fit in `T`.
    pub fn var_as<T: TryFrom<u64>>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        T::try_from(self.var()?).map_err(|_| DecodeError::Bad(what))
    }

    pub fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.var()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A count of items that each take at least one byte: never more than the bytes left.
    pub fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.var()?;
        if n > self.buf.len() as u64 {
            return Err(Short);
        }
        Ok(n as usize)
    }

    pub fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.count()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8)
    }

    pub fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err(DecodeError::Bad("option tag")),
        }
    }

    pub fn ip(&mut self, v6: bool) -> Result<IpAddr, DecodeError> {
        Ok(if v6 {
            let b: [u8; 16] = self.take(16)?.try_into().map_err(|_| Short)?;
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| Short)?;
            IpAddr::V4(Ipv4Addr::from(b))
        })
    }

    pub fn endpoint(&mut self, v6: bool) -> Result<Endpoint, DecodeError> {
        let ip = self.ip(v6)?;
        Ok(Endpoint::new(ip, self.u16()?))
    }

    pub fn ports(&mut self) -> Result<Vec<u16>, DecodeError> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        let mut last = 0u16;
        for _ in 0..n {
            last = last.wrapping_add(self.var_as::<u16>("port gap")?);
            out.push(last);
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_short_input_fails() {
        let mut e = Enc::default();
        e.var(300);
        e.zigzag(-5);
        e.str("héllo");
        e.ports(&[22, 80, 443, 65535]);
        e.opt_str(None);
        let mut d = Dec::new(&e.0);
        assert_eq!(d.var(), Ok(300));
        assert_eq!(d.zigzag(), Ok(-5));
        assert_eq!(d.str().as_deref(), Ok("héllo"));
        assert_eq!(d.ports(), Ok(vec![22, 80, 443, 65535]));
        assert_eq!(d.opt_str(), Ok(None));
        assert!(d.is_empty());
        assert_eq!(d.u8(), Err(Short));
        assert_eq!(Dec::new(&[0xff; 11]).var(), Err(DecodeError::LongVarint));
        assert_eq!(Dec::new(&[200, 1]).count(), Err(Short));
    }
}

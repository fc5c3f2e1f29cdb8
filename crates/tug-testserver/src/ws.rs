//! `GET /ws`: a WebSocket echo (RFC 6455), hand-rolled to keep the binary dependency-free: the handshake
//! (SHA-1 + base64 of the key), then text/binary frames echoed, pings answered, close echoed.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;

use crate::server::{respond, Head};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Frames larger than this are refused (close 1009): this is a test server.
const MAX_FRAME: u64 = 1 << 20;

/// Serves one WebSocket connection; returns the handshake status (101, or 400 without a key).
pub(crate) fn serve(mut stream: &TcpStream, mut reader: impl BufRead, headers: &[(String, String)]) -> u16 {
    let upgrade = Head::header(headers, "upgrade").unwrap_or_default();
    let Some(key) = Head::header(headers, "sec-websocket-key").filter(|_| upgrade.eq_ignore_ascii_case("websocket"))
    else {
        let _ = respond(stream, "GET", 400, "text/plain", "websocket upgrade expected\n");
        return 400;
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    if stream.write_all(response.as_bytes()).and_then(|()| stream.flush()).is_err() {
        return 101;
    }
    let _ = echo(&mut reader, &mut stream);
    101
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    base64(&sha1(format!("{}{GUID}", key.trim()).as_bytes()))
}

fn echo(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
    loop {
        let mut head = [0u8; 2];
        reader.read_exact(&mut head)?;
        let opcode = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                reader.read_exact(&mut b)?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                reader.read_exact(&mut b)?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        if len > MAX_FRAME {
            writer.write_all(&frame(0x8, &1009u16.to_be_bytes()))?;
            return Ok(());
        }
        let mut mask = [0u8; 4];
        if masked {
            reader.read_exact(&mut mask)?;
        }
        let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0)];
        reader.read_exact(&mut payload)?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        match opcode {
            // Text, binary, continuation: echoed as they came (FIN bit kept).
            0x0..=0x2 => {
                let mut out = frame(opcode, &payload);
                out[0] = head[0] & 0x8f;
                writer.write_all(&out)?;
            }
            0x8 => {
                writer.write_all(&frame(0x8, &payload))?;
                return writer.flush();
            }
            0x9 => writer.write_all(&frame(0xA, &payload))?,
            _ => {}
        }
        writer.flush()?;
    }
}

/// An unmasked server frame with FIN set.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// SHA-1 (FIPS 180-4); only for the handshake, where RFC 6455 mandates it.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_and_base64_known_answers() {
        assert_eq!(base64(&sha1(b"")), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(base64(&sha1(b"abc")), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        // RFC 6455 section 1.3's example.
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn frames_are_echoed() {
        // A masked client text frame "hi", a ping, then close.
        let mask = [1u8, 2, 3, 4];
        let mut input = vec![0x81, 0x82];
        input.extend_from_slice(&mask);
        input.extend(b"hi".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        input.extend_from_slice(&[0x89, 0x00, 0x88, 0x00]);
        let mut out = Vec::new();
        echo(&mut &input[..], &mut out).unwrap();
        assert_eq!(out, [0x81, 0x02, b'h', b'i', 0x8A, 0x00, 0x88, 0x00]);
    }
}

//! File types by content: the first bytes decide, never the name.

/// What `/ocr` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Pdf,
    Png,
    Jpeg,
    Tiff,
    Webp,
    Gif,
}

impl MediaKind {
    /// Recognises a file from its first bytes (at least 12 are needed for WebP).
    pub fn sniff(head: &[u8]) -> Option<MediaKind> {
        if head.starts_with(b"%PDF-") {
            Some(MediaKind::Pdf)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(MediaKind::Png)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(MediaKind::Jpeg)
        } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
            Some(MediaKind::Tiff)
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(MediaKind::Webp)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(MediaKind::Gif)
        } else {
            None
        }
    }

    pub fn is_pdf(self) -> bool {
        self == MediaKind::Pdf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic_bytes() {
        assert_eq!(MediaKind::sniff(b"%PDF-1.4\n"), Some(MediaKind::Pdf));
        assert_eq!(MediaKind::sniff(b"\x89PNG\r\n\x1a\n\0\0"), Some(MediaKind::Png));
        assert_eq!(MediaKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(MediaKind::Jpeg));
        assert_eq!(MediaKind::sniff(b"II*\0...."), Some(MediaKind::Tiff));
        assert_eq!(MediaKind::sniff(b"MM\0*...."), Some(MediaKind::Tiff));
        assert_eq!(MediaKind::sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(MediaKind::Webp));
        assert_eq!(MediaKind::sniff(b"GIF89a.."), Some(MediaKind::Gif));
        assert_eq!(MediaKind::sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(MediaKind::sniff(b"#!/bin/sh\n"), None);
        assert_eq!(MediaKind::sniff(b"<html>%PDF-"), None);
        assert_eq!(MediaKind::sniff(b""), None);
    }
}

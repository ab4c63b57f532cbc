//! Deciding from the first bytes whether an upload is an MP4.
//!
//! An MP4 (ISO base media file format) starts with an `ftyp` box: a 4-byte big-endian
//! size, the type `ftyp`, a 4-byte major brand, a 4-byte minor version, then 4-byte
//! compatible brands up to the box size. A file counts as MP4 when that box is present
//! with a plausible size and its major brand, or one of the compatible brands within the
//! bytes given, is in [`MP4_BRANDS`].
//!
//! QuickTime (`qt  `) is accepted on purpose: phones (iPhones in particular) record it,
//! it is the same ISO-BMFF structure read by the same ffmpeg demuxer, and the processed
//! result is an MP4 either way. Image formats built on ISO-BMFF (HEIF `heic`/`mif1`,
//! AVIF `avif`) are not in the list and are rejected; an MP4 audio file (`M4A ` listing
//! `isom`) passes here and is rejected later by validation for having no video.

/// Brands that mark an MP4-family video file.
pub const MP4_BRANDS: &[&[u8; 4]] = &[
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41",
    b"mp42", b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"MSNV", b"XAVC", b"qt  ",
];

/// Bytes a caller needs to pass at least: box size, `ftyp`, major brand.
pub const MIN_HEAD_LEN: usize = 12;

/// Largest `ftyp` box considered plausible; real ones list a handful of brands.
const MAX_FTYP_SIZE: usize = 1024;

/// Whether `head` (the first bytes of a file, at least [`MIN_HEAD_LEN`]; callers pass up
/// to 64) is the start of an MP4-family video file.
pub fn looks_like_mp4(head: &[u8]) -> bool {
    if head.len() < MIN_HEAD_LEN || &head[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    // Header + major brand + minor version, then whole 4-byte brands. A size of 0 ("to the
    // end of the file") or 1 (64-bit size follows) never occurs for a real `ftyp`.
    if !(16..=MAX_FTYP_SIZE).contains(&size) || !size.is_multiple_of(4) {
        return false;
    }
    let brand_is_known = |brand: &[u8]| MP4_BRANDS.iter().any(|known| known.as_slice() == brand);
    if brand_is_known(&head[8..12]) {
        return true;
    }
    let compatible_end = size.min(head.len());
    head.get(16..compatible_end)
        .is_some_and(|brands| brands.chunks_exact(4).any(brand_is_known))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(size: u32, major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let mut head = size.to_be_bytes().to_vec();
        head.extend_from_slice(b"ftyp");
        head.extend_from_slice(major);
        head.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            head.extend_from_slice(*brand);
        }
        // What follows the box in a real file: the next box header.
        head.extend_from_slice(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
        head
    }

    #[test]
    fn accepts_common_mp4_and_quicktime_heads() {
        // What ffmpeg writes by default.
        assert!(looks_like_mp4(&ftyp(
            32,
            b"isom",
            &[b"isom", b"iso2", b"avc1", b"mp41"]
        )));
        assert!(looks_like_mp4(&ftyp(24, b"mp42", &[b"mp42", b"isom"])));
        assert!(looks_like_mp4(&ftyp(20, b"qt  ", &[b"qt  "])));
        assert!(looks_like_mp4(&ftyp(16, b"M4V ", &[])));
        // Unknown major brand rescued by a compatible one.
        assert!(looks_like_mp4(&ftyp(24, b"kddi", &[b"3gp5", b"isom"])));
    }

    #[test]
    fn accepts_exactly_twelve_bytes() {
        assert!(looks_like_mp4(&ftyp(32, b"isom", &[])[..12]));
    }

    #[test]
    fn rejects_other_containers_text_and_empty() {
        let webm = [
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01,
        ];
        assert!(!looks_like_mp4(&webm));
        assert!(!looks_like_mp4(b"RIFF\x24\x00\x00\x00AVI LIST"));
        assert!(!looks_like_mp4(b"this is just some text, not a video"));
        assert!(!looks_like_mp4(b""));
        assert!(!looks_like_mp4(b"\x00\x00\x00\x20ftyp"));
    }

    #[test]
    fn rejects_iso_bmff_images_and_implausible_sizes() {
        assert!(!looks_like_mp4(&ftyp(24, b"heic", &[b"mif1", b"heic"])));
        assert!(!looks_like_mp4(&ftyp(20, b"avif", &[b"avif"])));
        assert!(!looks_like_mp4(&ftyp(1, b"isom", &[])));
        assert!(!looks_like_mp4(&ftyp(0, b"isom", &[])));
        assert!(!looks_like_mp4(&ftyp(18, b"isom", &[])));
        assert!(!looks_like_mp4(&ftyp(1 << 20, b"isom", &[])));
    }

    #[test]
    fn brands_beyond_the_box_are_not_read() {
        // The box ends after the minor version; `isom` in the next box does not count.
        let mut head = ftyp(16, b"heic", &[]);
        head.extend_from_slice(b"isom");
        assert!(!looks_like_mp4(&head));
    }
}

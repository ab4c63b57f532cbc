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
//!
//! [`check_data_references`] reads where each track's media lives. ISO-BMFF allows a
//! track's samples to be in another file or at a URL (the `dref` box under
//! `moov/trak/mdia/minf/dinf`): a QuickTime alias (`alis`), a resource (`rsrc`), a URN or
//! URL with a location. An upload must carry its own media, so only entries flagged
//! self-contained (flag `0x000001`, "the media data is in the same file") and naming no
//! location are accepted. That includes `alis` entries with the flag set, which is what
//! iPhones and QuickTime write into every `.mov`: ffmpeg reads those from the same file.

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

/// Flag of a data reference entry whose media is in the same file.
const SELF_CONTAINED: u32 = 0x00_0001;

/// Why the data references of a `moov` box are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataReferenceError {
    /// A track's media lives outside the file; the text names the kind of reference.
    #[error("the video's media is stored outside the file ({0})")]
    External(String),
    /// The boxes on the way to, or inside, a `dref` are malformed.
    #[error("{0}")]
    Malformed(String),
}

/// Checks every `trak/mdia/minf/dinf/dref` of `moov` (the payload of a `moov` box,
/// without its header): each entry must be self-contained.
pub fn check_data_references(moov: &[u8]) -> Result<(), DataReferenceError> {
    for trak in children(moov, b"trak") {
        for mdia in children(trak?, b"mdia") {
            for minf in children(mdia?, b"minf") {
                for dinf in children(minf?, b"dinf") {
                    for dref in children(dinf?, b"dref") {
                        check_dref(dref?)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The payloads of the boxes of type `kind` directly inside `parent`.
fn children<'a>(
    parent: &'a [u8],
    kind: &'a [u8; 4],
) -> impl Iterator<Item = Result<&'a [u8], DataReferenceError>> + 'a {
    let mut rest = Some(parent);
    std::iter::from_fn(move || {
        loop {
            let buf = rest.filter(|b| !b.is_empty())?;
            match Split::first_box(buf) {
                Ok(split) => {
                    rest = Some(split.after);
                    if &split.kind == kind {
                        return Some(Ok(split.payload));
                    }
                }
                Err(e) => {
                    rest = None;
                    return Some(Err(e));
                }
            }
        }
    })
}

/// A buffer split at the end of the box it starts with.
struct Split<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
    after: &'a [u8],
}

impl<'a> Split<'a> {
    fn first_box(buf: &'a [u8]) -> Result<Self, DataReferenceError> {
        let malformed = |what: String| Err(DataReferenceError::Malformed(what));
        let Some(([s0, s1, s2, s3, k0, k1, k2, k3], _)) = buf.split_first_chunk::<8>() else {
            return malformed(format!("{} stray bytes inside the 'moov' box", buf.len()));
        };
        let kind = [*k0, *k1, *k2, *k3];
        let (header_len, size) = match u32::from_be_bytes([*s0, *s1, *s2, *s3]) {
            0 => (8, buf.len() as u64),
            1 => match buf.get(8..).and_then(<[u8]>::first_chunk::<8>) {
                Some(large) => (16, u64::from_be_bytes(*large)),
                None => return malformed("a 64-bit box header is cut short".into()),
            },
            n => (8, u64::from(n)),
        };
        match usize::try_from(size) {
            Ok(size) if (header_len..=buf.len()).contains(&size) => Ok(Self {
                kind,
                payload: &buf[header_len..size],
                after: &buf[size..],
            }),
            _ => malformed(format!(
                "box '{}' inside 'moov' has size {size} but {} bytes remain",
                String::from_utf8_lossy(&kind),
                buf.len()
            )),
        }
    }
}

fn check_dref(dref: &[u8]) -> Result<(), DataReferenceError> {
    let malformed = |what: &str| DataReferenceError::Malformed(format!("the 'dref' box {what}"));
    let Some(([_, _, _, _, c0, c1, c2, c3], mut entries)) = dref.split_first_chunk::<8>() else {
        return Err(malformed("is cut short"));
    };
    let count = u32::from_be_bytes([*c0, *c1, *c2, *c3]);
    for _ in 0..count {
        if entries.is_empty() {
            return Err(malformed("lists fewer entries than it declares"));
        }
        let entry = Split::first_box(entries)?;
        entries = entry.after;
        let Some((version_flags, location)) = entry.payload.split_first_chunk::<4>() else {
            return Err(malformed("has an entry without flags"));
        };
        let flags = u32::from_be_bytes(*version_flags) & 0x00FF_FFFF;
        // A self-contained `url ` may still carry an empty (NUL) location string.
        let names_nothing = location.iter().all(|b| *b == 0);
        if flags & SELF_CONTAINED == 0 || !names_nothing {
            return Err(DataReferenceError::External(describe(&entry.kind)));
        }
    }
    Ok(())
}

fn describe(kind: &[u8; 4]) -> String {
    let what = match kind {
        b"alis" => "a QuickTime alias to another file",
        b"rsrc" => "a resource of another file",
        b"url " => "a URL",
        b"urn " => "a URN",
        _ => "a data reference",
    };
    format!("{what}, '{}'", String::from_utf8_lossy(kind))
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

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = u32::try_from(payload.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    /// A data reference entry: type, flags, then `data` (a location or alias record).
    fn entry(kind: &[u8; 4], flags: u32, data: &[u8]) -> Vec<u8> {
        let mut payload = flags.to_be_bytes().to_vec();
        payload.extend_from_slice(data);
        boxed(kind, &payload)
    }

    /// A `moov` payload with one track per list of `dref` entries, and the boxes real
    /// files put around them.
    fn moov(tracks: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut moov = boxed(b"mvhd", &[0; 100]);
        for entries in tracks {
            let mut dref = vec![0, 0, 0, 0];
            dref.extend_from_slice(&u32::try_from(entries.len()).unwrap().to_be_bytes());
            for e in entries {
                dref.extend_from_slice(e);
            }
            let dinf = boxed(b"dinf", &boxed(b"dref", &dref));
            let mut minf = boxed(b"vmhd", &[0; 12]);
            minf.extend(dinf);
            minf.extend(boxed(b"stbl", &[0; 40]));
            let mut mdia = boxed(b"mdhd", &[0; 24]);
            mdia.extend(boxed(b"hdlr", &[0; 25]));
            mdia.extend(boxed(b"minf", &minf));
            let mut trak = boxed(b"tkhd", &[0; 84]);
            trak.extend(boxed(b"mdia", &mdia));
            moov.extend(boxed(b"trak", &trak));
        }
        moov.extend(boxed(b"udta", &[0; 10]));
        moov
    }

    fn external(moov: &[u8]) -> String {
        match check_data_references(moov) {
            Err(DataReferenceError::External(what)) => what,
            other => panic!("expected an external reference, got {other:?}"),
        }
    }

    #[test]
    fn self_contained_references_pass() {
        let url = entry(b"url ", 1, &[]);
        assert_eq!(check_data_references(&moov(&[vec![url.clone()]])), Ok(()));
        // Audio and video tracks, an empty location string, an iPhone-style `alis`.
        let tracks = [
            vec![url.clone()],
            vec![entry(b"url ", 1, &[0])],
            vec![entry(b"alis", 1, &[])],
        ];
        assert_eq!(check_data_references(&moov(&tracks)), Ok(()));
        assert_eq!(check_data_references(&moov(&[])), Ok(()));
    }

    #[test]
    fn references_to_other_files_are_refused() {
        let alias = entry(b"alis", 0, &[0x41; 160]);
        assert_eq!(
            external(&moov(&[vec![alias]])),
            "a QuickTime alias to another file, 'alis'"
        );
        let remote = entry(b"url ", 0, b"http://example.com/media.mp4\0");
        assert_eq!(external(&moov(&[vec![remote]])), "a URL, 'url '");
        let urn = entry(b"urn ", 0, b"urn:x\0loc\0");
        assert_eq!(external(&moov(&[vec![urn]])), "a URN, 'urn '");
        assert!(external(&moov(&[vec![entry(b"rsrc", 0, &[])]])).contains("rsrc"));
        // Flagged self-contained but naming a location anyway: ffmpeg would follow it.
        let both = entry(b"alis", 1, &[0x41; 160]);
        assert!(external(&moov(&[vec![both]])).contains("alias"));
        // One bad entry among good ones, in the second track.
        let tracks = [
            vec![entry(b"url ", 1, &[])],
            vec![entry(b"url ", 1, &[]), entry(b"url ", 0, b"file:///etc\0")],
        ];
        assert_eq!(external(&moov(&tracks)), "a URL, 'url '");
    }

    #[test]
    fn malformed_references_are_reported_as_such() {
        let malformed = |moov: &[u8]| {
            matches!(
                check_data_references(moov),
                Err(DataReferenceError::Malformed(_))
            )
        };
        // Declares two entries, holds one.
        let mut dref = vec![0, 0, 0, 0, 0, 0, 0, 2];
        dref.extend(entry(b"url ", 1, &[]));
        let trak = boxed(
            b"trak",
            &boxed(
                b"mdia",
                &boxed(b"minf", &boxed(b"dinf", &boxed(b"dref", &dref))),
            ),
        );
        assert!(malformed(&trak));
        // An entry too short for its flags, and a child box larger than its parent.
        let mut short = moov(&[vec![boxed(b"url ", &[0, 0])]]);
        assert!(malformed(&short));
        short.truncate(short.len() - 30);
        assert!(malformed(&short));
        assert!(malformed(&[0, 0, 0]));
    }
}

//! Which H.264 frames no other frame refers to, read from their NAL unit headers.
//!
//! A picture whose slices all have `nal_ref_idc == 0` never predicts another picture, so a frame
//! decoded only to reach a later one can be skipped without changing a pixel of anything after
//! it (FFmpeg's `skip_frame = nonref` does the same inside the decoder). With x264's default
//! B-pyramid that is one frame in three.

/// How NAL units are delimited in the buffers of an H.264 stream (its caps' `stream-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `avc` / `avc3`: each NAL unit follows its big-endian length of 1, 2 or 4 bytes.
    Length(usize),
    /// `byte-stream`: NAL units follow `00 00 01` start codes.
    StartCodes,
}

impl Framing {
    /// The framing of an H.264 stream from its caps; `None` for anything else, or when the
    /// `avcC` record that gives the length size is missing.
    pub(crate) fn of_caps(caps: &gst::CapsRef) -> Option<Self> {
        let s = caps.structure(0)?;
        if s.name() != "video/x-h264" {
            return None;
        }
        match s.get::<&str>("stream-format").ok()? {
            "byte-stream" => Some(Self::StartCodes),
            "avc" | "avc3" => {
                let record = s.get::<gst::Buffer>("codec_data").ok()?;
                let map = record.map_readable().ok()?;
                Self::of_avcc(&map)
            }
            _ => None,
        }
    }

    /// The NAL length size of an `AVCDecoderConfigurationRecord` (ISO 14496-15 §5.2.4.1).
    fn of_avcc(record: &[u8]) -> Option<Self> {
        match record {
            [1, _, _, _, size, ..] => match (size & 0b11) + 1 {
                3 => None,
                n => Some(Self::Length(n as usize)),
            },
            _ => None,
        }
    }
}

/// True when the access unit holds at least one slice and none of its slices is a reference.
/// Anything unexpected (a truncated unit, an extension slice) answers false: decode it.
pub(crate) fn is_non_reference(unit: &[u8], framing: Framing) -> bool {
    let mut slices = 0;
    let mut headers = Headers { rest: unit, framing };
    for header in &mut headers {
        let (ref_idc, kind) = (header >> 5 & 0b11, header & 0b1_1111);
        match kind {
            // Coded slices (1), partitions (2–4), IDR slices (5).
            1..=5 if ref_idc != 0 => return false,
            1..=5 => slices += 1,
            // SVC / MVC extension slices: their reference rules are not read here.
            20 | 21 => return false,
            _ => {}
        }
    }
    // A unit whose framing broke before its end is never skipped.
    slices > 0 && !headers.broken()
}

/// The first byte of each NAL unit of an access unit, in order.
struct Headers<'a> {
    rest: &'a [u8],
    framing: Framing,
}

impl Headers<'_> {
    /// Whether iteration stopped on a length that does not fit the bytes left (start codes
    /// cannot break: the payload after the last one is that NAL unit's).
    fn broken(&self) -> bool {
        matches!(self.framing, Framing::Length(_)) && !self.rest.is_empty()
    }
}

impl Iterator for Headers<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        match self.framing {
            Framing::Length(size) => {
                let (len, body) = self.rest.split_at_checked(size)?;
                let len = len.iter().fold(0usize, |n, &b| n << 8 | b as usize);
                let (nal, tail) = body.split_at_checked(len).filter(|(nal, _)| !nal.is_empty())?;
                self.rest = tail;
                Some(nal[0])
            }
            Framing::StartCodes => {
                let at = self.rest.windows(4).position(|w| w[..3] == [0, 0, 1])?;
                let header = self.rest[at + 3];
                self.rest = &self.rest[at + 4..];
                Some(header)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NAL unit header: forbidden bit 0, `nal_ref_idc`, `nal_unit_type`.
    fn header(ref_idc: u8, kind: u8) -> u8 {
        ref_idc << 5 | kind
    }

    fn avc(nals: &[&[u8]], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in nals {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes()[4 - size..]);
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn a_unit_of_non_reference_slices_is_skippable() {
        let sei = [header(0, 6), 5, 1, 0x80];
        let b = [header(0, 1), 0x9a, 0x12];
        for size in [1, 2, 4] {
            let framing = Framing::Length(size);
            assert!(is_non_reference(&avc(&[&sei, &b, &b], size), framing));
            // One reference slice, an IDR, or nothing but SEI: decode it.
            let p = [header(2, 1), 0x9a];
            assert!(!is_non_reference(&avc(&[&b, &p], size), framing));
            assert!(!is_non_reference(&avc(&[&[header(3, 5), 0x88]], size), framing));
            assert!(!is_non_reference(&avc(&[&sei], size), framing));
            assert!(!is_non_reference(&avc(&[&[header(0, 20), 0]], size), framing));
        }
    }

    #[test]
    fn broken_framing_is_never_skipped() {
        let b = [header(0, 1), 0x9a, 0x12];
        let mut unit = avc(&[&b], 4);
        unit.truncate(5);
        assert!(!is_non_reference(&unit, Framing::Length(4)));
        // A zero-length NAL unit, and a length field cut short.
        assert!(!is_non_reference(&[0, 0, 0, 0], Framing::Length(4)));
        assert!(!is_non_reference(&[0, 0], Framing::Length(4)));
        assert!(!is_non_reference(&[], Framing::Length(4)));
    }

    #[test]
    fn start_codes_are_found_with_three_and_four_bytes() {
        let stream = [
            0,
            0,
            0,
            1,
            header(0, 9),
            0x10,
            0,
            0,
            1,
            header(0, 1),
            0x9a,
            0,
            0,
            0,
            1,
            header(0, 1),
            0x9b,
        ];
        assert!(is_non_reference(&stream, Framing::StartCodes));
        let with_ref = [0, 0, 1, header(0, 1), 0x9a, 0, 0, 1, header(1, 1), 0x9b];
        assert!(!is_non_reference(&with_ref, Framing::StartCodes));
    }

    #[test]
    fn the_length_size_comes_from_the_avcc_record() {
        assert_eq!(
            Framing::of_avcc(&[1, 100, 0, 31, 0xff, 0xe1]),
            Some(Framing::Length(4))
        );
        assert_eq!(Framing::of_avcc(&[1, 100, 0, 31, 0xfd]), Some(Framing::Length(2)));
        assert_eq!(Framing::of_avcc(&[1, 100, 0, 31, 0xfe]), None);
        assert_eq!(Framing::of_avcc(&[0, 100, 0, 31, 0xff]), None);
        assert_eq!(Framing::of_avcc(&[1, 100]), None);
    }
}

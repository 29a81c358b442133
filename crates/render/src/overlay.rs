//! Boxes and the count, drawn on a frame.

use std::sync::LazyLock;

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};

/// The colour of box outlines and of the count's digits.
pub const BOX_COLOUR: [u8; 3] = [255, 214, 0];
const BADGE_COLOUR: [u8; 3] = [0, 0, 0];

/// DejaVu Sans Bold cut down to the characters a count label uses (see `fonts/LICENSE`).
static FONT: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(include_bytes!("../fonts/DejaVuSans-Bold-digits.ttf")).ok());

/// Draws each box's outline (`[x1, y1, x2, y2]` in source pixels, times `scale` to reach this
/// picture) and, in the top-left corner, a badge with `label` (the count). Boxes past the edge
/// are clipped; characters the font lacks are left out.
pub fn draw_overlay(
    rgb: &mut [u8],
    width: u32,
    height: u32,
    boxes: impl IntoIterator<Item = [f32; 4]>,
    scale: (f32, f32),
    label: &str,
) {
    let mut canvas = Canvas {
        rgb,
        width: i64::from(width),
        height: i64::from(height),
    };
    let thick = (canvas.width / 320).max(2);
    for [x1, y1, x2, y2] in boxes {
        let (x1, x2) = ((x1 * scale.0).round() as i64, (x2 * scale.0).round() as i64);
        let (y1, y2) = ((y1 * scale.1).round() as i64, (y2 * scale.1).round() as i64);
        canvas.fill(x1, y1, x2, y1 + thick, BOX_COLOUR);
        canvas.fill(x1, y2 - thick, x2, y2, BOX_COLOUR);
        canvas.fill(x1, y1, x1 + thick, y2, BOX_COLOUR);
        canvas.fill(x2 - thick, y1, x2, y2, BOX_COLOUR);
    }
    if let Some(font) = FONT.as_ref() {
        badge(&mut canvas, font, label);
    }
}

/// The label in white-on-black-ish (box colour on black), about a fifteenth of the picture's
/// height tall, at least 10 pixels.
fn badge(canvas: &mut Canvas<'_>, font: &FontRef<'static>, label: &str) {
    let px = (canvas.height as f32 / 15.0).max(10.0);
    let scale = PxScale::from(px);
    let scaled = font.as_scaled(scale);
    let pad = (px / 4.0).ceil();
    let glyphs: Vec<_> = {
        let mut x = pad;
        label
            .chars()
            .map(|c| {
                let id = scaled.glyph_id(c);
                let glyph = id.with_scale_and_position(scale, point(x, pad + scaled.ascent()));
                x += scaled.h_advance(id);
                glyph
            })
            .collect()
    };
    let text_w = glyphs
        .last()
        .map_or(0.0, |g| g.position.x + scaled.h_advance(g.id) - pad);
    let badge_w = (text_w + pad * 2.0).ceil() as i64;
    let badge_h = (scaled.ascent() - scaled.descent() + pad * 2.0).ceil() as i64;
    canvas.fill(0, 0, badge_w, badge_h, BADGE_COLOUR);
    for glyph in glyphs {
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let x = bounds.min.x as i64 + i64::from(gx);
            let y = bounds.min.y as i64 + i64::from(gy);
            canvas.blend(x, y, BOX_COLOUR, coverage);
        });
    }
}

/// Packed RGB with clipped drawing.
struct Canvas<'a> {
    rgb: &'a mut [u8],
    width: i64,
    height: i64,
}

impl Canvas<'_> {
    fn at(&mut self, x: i64, y: i64) -> Option<&mut [u8]> {
        if !(0..self.width).contains(&x) || !(0..self.height).contains(&y) {
            return None;
        }
        let i = ((y * self.width + x) * 3) as usize;
        self.rgb.get_mut(i..i + 3)
    }

    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, colour: [u8; 3]) {
        for y in y0.max(0)..y1.min(self.height) {
            for x in x0.max(0)..x1.min(self.width) {
                if let Some(px) = self.at(x, y) {
                    px.copy_from_slice(&colour);
                }
            }
        }
    }

    fn blend(&mut self, x: i64, y: i64, colour: [u8; 3], coverage: f32) {
        let a = coverage.clamp(0.0, 1.0);
        if let Some(px) = self.at(x, y) {
            for (p, c) in px.iter_mut().zip(colour) {
                *p = (f32::from(*p) * (1.0 - a) + f32::from(c) * a).round() as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_is_compiled_in_and_has_every_digit() {
        let font = FONT.as_ref().expect("the compiled-in font parses");
        for c in "0123456789–-".chars() {
            assert_ne!(font.glyph_id(c).0, 0, "{c:?} is missing");
        }
    }

    #[test]
    fn boxes_and_the_count_are_drawn_inside_the_picture() {
        let (w, h) = (320u32, 240u32);
        let mut rgb = vec![40u8; (w * h * 3) as usize];
        // A box past the edge is clipped, not a panic.
        draw_overlay(
            &mut rgb,
            w,
            h,
            [[100.0, 100.0, 200.0, 180.0], [300.0, 200.0, 400.0, 300.0]],
            (1.0, 1.0),
            "27",
        );
        let at = |x: u32, y: u32| <[u8; 3]>::try_from(&rgb[((y * w + x) * 3) as usize..][..3]).unwrap();
        assert_eq!(at(150, 100), BOX_COLOUR, "top edge");
        assert_eq!(at(100, 140), BOX_COLOUR, "left edge");
        assert_eq!(at(150, 140), [40, 40, 40], "inside stays");
        assert_eq!(at(300, 230), BOX_COLOUR, "the clipped box's left edge");
        assert_eq!(at(319, 200), BOX_COLOUR, "its top edge, up to the border");
        // The badge: black behind the digits, and the digits in the box colour.
        assert_eq!(at(1, 1), BADGE_COLOUR);
        let badge: Vec<[u8; 3]> = (0..30)
            .flat_map(|y| (0..40).map(move |x| (x, y)))
            .map(|(x, y)| at(x, y))
            .collect();
        let lit = badge.iter().filter(|&&p| p == BOX_COLOUR).count();
        assert!(lit > 30, "the digits are drawn ({lit} pixels)");
        assert!(
            at(200, 10) == [40, 40, 40],
            "the badge is only as wide as its text"
        );
    }

    #[test]
    fn a_tiny_picture_is_drawn_on_without_a_panic() {
        let mut rgb = vec![0u8; 4 * 3 * 3];
        draw_overlay(&mut rgb, 4, 3, [[0.0, 0.0, 3.0, 2.0]], (1.0, 1.0), "123");
        // The badge covers the picture; what fits of it is drawn.
        assert_eq!(rgb[..3], BADGE_COLOUR);
    }
}

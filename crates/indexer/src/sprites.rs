//! Thumbnail sprite sheets and their WebVTT map, the convention video players use for timeline
//! hover previews: one image holds a grid of thumbnails, and each cue of the `.vtt` file names
//! the sheet and the tile (`sheet-3.jpg#xywh=284,160,284,160`) for a stretch of time.

use std::fmt::Write as _;

use image::RgbImage;
use pigweight_render::Format;

use crate::error::IndexError;
use crate::query::IndexView;

/// Thumbnails per row and rows per sheet.
pub const SPRITE_COLUMNS: usize = 10;
pub const SPRITE_ROWS: usize = 10;
const PER_SHEET: usize = SPRITE_COLUMNS * SPRITE_ROWS;

/// Number of sheets `view`'s thumbnails fill.
pub fn sprite_sheets(view: &IndexView) -> usize {
    view.thumbnails().len().div_ceil(PER_SHEET)
}

/// The thumbnail frames on sheet `sheet`, in tile order (row by row).
pub fn sprite_frames(view: &IndexView, sheet: usize) -> Vec<u64> {
    view.thumbnails()
        .iter()
        .skip(sheet.saturating_mul(PER_SHEET))
        .take(PER_SHEET)
        .map(|&(f, _)| f)
        .collect()
}

/// The WebVTT map: one cue per thumbnail, lasting until the next one (the last until `end`);
/// `sheet_url(k)` is where sheet k is served. Tiles are `tile` (width, height) pixels.
pub fn sprite_vtt(
    view: &IndexView,
    tile: (u32, u32),
    end: f64,
    sheet_url: &dyn Fn(usize) -> String,
) -> String {
    let mut vtt = String::from("WEBVTT\n");
    let thumbs = view.thumbnails();
    for (i, &(_, start)) in thumbs.iter().enumerate() {
        let stop = thumbs.get(i + 1).map_or(end, |&(_, t)| t).max(start);
        let (sheet, slot) = (i / PER_SHEET, i % PER_SHEET);
        let (x, y) = (
            (slot % SPRITE_COLUMNS) as u32 * tile.0,
            (slot / SPRITE_COLUMNS) as u32 * tile.1,
        );
        let _ = write!(
            vtt,
            "\n{} --> {}\n{}#xywh={x},{y},{},{}\n",
            timestamp(start),
            timestamp(stop),
            sheet_url(sheet),
            tile.0,
            tile.1
        );
    }
    vtt
}

/// `HH:MM:SS.mmm`.
fn timestamp(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Lays thumbnails (JPEG, all one size) out as a sheet, row by row, and encodes it as JPEG.
pub fn compose_sheet(tiles: &[Vec<u8>], quality: u8) -> Result<Vec<u8>, IndexError> {
    let decoded = tiles
        .iter()
        .map(|jpeg| image::load_from_memory(jpeg).map(|i| i.to_rgb8()))
        .collect::<Result<Vec<RgbImage>, _>>()
        .map_err(|e| IndexError::Thumbnail(e.to_string()))?;
    let Some(first) = decoded.first() else {
        return Err(IndexError::Thumbnail(
            "a sprite sheet needs at least one thumbnail".into(),
        ));
    };
    let (w, h) = first.dimensions();
    let columns = decoded.len().min(SPRITE_COLUMNS) as u32;
    let rows = decoded.len().div_ceil(SPRITE_COLUMNS) as u32;
    let mut sheet = RgbImage::new(w * columns, h * rows);
    for (i, tile) in decoded.iter().enumerate() {
        let (x, y) = (
            (i % SPRITE_COLUMNS) as i64 * i64::from(w),
            (i / SPRITE_COLUMNS) as i64 * i64::from(h),
        );
        image::imageops::replace(&mut sheet, tile, x, y);
    }
    let jpeg = pigweight_render::encode(
        sheet.as_raw(),
        sheet.width(),
        sheet.height(),
        Format::Jpeg,
        quality.clamp(1, 100),
    )
    .map_err(|e| IndexError::Thumbnail(e.to_string()))?;
    Ok(jpeg.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::{Sample, Source};

    fn view(n: u64) -> IndexView {
        let samples: Vec<Sample> = (0..n)
            .flat_map(|i| {
                // A regular sample every second and a refined one in between (no thumbnail).
                [(i * 25, Source::Regular), (i * 25 + 12, Source::Refine)]
            })
            .map(|(frame, source)| Sample {
                frame,
                time: frame as f64 / 25.0,
                count: 1,
                band: pigweight_inference::CountBand::exact(1),
                source,
                detections: Vec::new(),
            })
            .collect();
        IndexView::new(&samples, 0.25)
    }

    #[test]
    fn vtt_cues_tile_the_sheets_in_order() {
        let v = view(150);
        assert_eq!(sprite_sheets(&v), 2);
        assert_eq!(
            sprite_frames(&v, 1),
            (100..150).map(|i| i * 25).collect::<Vec<_>>()
        );
        let vtt = sprite_vtt(&v, (284, 160), 150.0, &|k| format!("sheet-{k}.jpg"));
        let cues: Vec<&str> = vtt.split("\n\n").collect();
        assert_eq!(cues[0], "WEBVTT");
        assert_eq!(cues.len(), 151);
        assert_eq!(
            cues[1],
            "00:00:00.000 --> 00:00:01.000\nsheet-0.jpg#xywh=0,0,284,160"
        );
        assert_eq!(
            cues[12],
            "00:00:11.000 --> 00:00:12.000\nsheet-0.jpg#xywh=284,160,284,160"
        );
        // The 150th thumbnail: sheet 1, slot 49 (row 4, column 9).
        assert_eq!(
            cues[150].trim_end(),
            "00:02:29.000 --> 00:02:30.000\nsheet-1.jpg#xywh=2556,640,284,160"
        );
        assert_eq!(timestamp(3723.4567), "01:02:03.457");
    }

    #[test]
    fn sheets_place_tiles_row_by_row() {
        let tile = |v: u8| {
            let img = RgbImage::from_pixel(8, 4, image::Rgb([v, v, v]));
            pigweight_render::encode(img.as_raw(), 8, 4, Format::Jpeg, 95)
                .unwrap()
                .to_vec()
        };
        let tiles: Vec<Vec<u8>> = (0..12).map(|i| tile(i * 20)).collect();
        let sheet = image::load_from_memory(&compose_sheet(&tiles, 95).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(sheet.dimensions(), (80, 8));
        let grey = |x, y| i32::from(sheet.get_pixel(x, y)[0]);
        assert!((grey(4 + 8 * 3, 2) - 60).abs() <= 3);
        assert!((grey(4 + 8, 6) - 220).abs() <= 3, "tile 11 is row 2, column 2");
    }
}

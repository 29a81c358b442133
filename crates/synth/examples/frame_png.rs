//! Renders one frame of a synthetic pen to a PNG, for looking at.
//!
//! `cargo run --release -p pigweight-synth --example frame_png -- OUT.png [SEED] [FRAME]`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: frame_png OUT.png [SEED] [FRAME]")?);
    let seed = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let index = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let cfg = pigweight_synth::VideoConfig {
        seed,
        ..Default::default()
    };
    let mut pen = cfg.pen()?;
    let (frame, truth) = pen.render(index);
    let (w, h) = (frame.width(), frame.height());
    image::RgbaImage::from_raw(w, h, frame.into_data())
        .ok_or("frame size mismatch")?
        .save(&out)?;
    std::fs::write(out.with_extension("json"), serde_json::to_string_pretty(&truth)?)?;
    Ok(())
}

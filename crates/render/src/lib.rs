//! Pictures for pigweight's clients: frames encoded as JPEG or PNG, with the model's boxes and
//! the count drawn on them, at a few JPEG quality levels that many clients share.
//!
//! What it is for: [`encode`] (libjpeg-turbo for JPEG, the `image` crate for PNG),
//! [`draw_overlay`] (box outlines and a count badge, its digits rasterised from a font compiled
//! into the crate) and [`snap_quality`] (a requested quality to the nearest configured level,
//! so one encoding serves many clients).
//!
//! What it is not for: decoding, scaling or caching; it takes packed RGB (3 bytes a pixel, rows
//! without padding) and gives bytes. Every call is CPU work: run it on a blocking thread.

mod encode;
mod overlay;

pub use encode::{Format, RenderError, encode, snap_quality};
pub use overlay::{BOX_COLOUR, draw_overlay};

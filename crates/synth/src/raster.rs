//! Small drawing helpers shared by the floor and the pigs.

use tiny_skia::{Color, Path, PathBuilder, Pixmap, Point};

/// Largest pixmap side we ever ask for; configs are validated against it.
pub(crate) const MAX_SIDE: u32 = 8192;

/// A transparent pixmap; sides are clamped into `1..=MAX_SIDE`.
// tiny-skia only refuses a zero side or a byte size beyond i32::MAX; 8192² × 4 is below it.
#[allow(clippy::expect_used)]
pub(crate) fn blank_pixmap(width: u32, height: u32) -> Pixmap {
    let (w, h) = (width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
    Pixmap::new(w, h).expect("pixmap sides are clamped into the accepted range")
}

/// An RGB colour with components in `[0, 1]`.
pub(crate) type Rgb = [f32; 3];

/// A tiny-skia colour from an RGB triple and alpha, clamping everything into range.
pub(crate) fn color(rgb: Rgb, alpha: f32) -> Color {
    let c = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    Color::from_rgba(c(rgb[0]), c(rgb[1]), c(rgb[2]), c(alpha)).unwrap_or(Color::BLACK)
}

/// Scales an RGB colour component-wise.
pub(crate) fn scale(rgb: Rgb, k: [f32; 3]) -> Rgb {
    [rgb[0] * k[0], rgb[1] * k[1], rgb[2] * k[2]]
}

/// Linear mix from `a` (t = 0) to `b` (t = 1).
pub(crate) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// A closed smooth curve through the midpoints of a polygon's edges (each vertex becomes a
/// quadratic control point), which turns a jittered polygon into an organic blob.
pub(crate) fn smooth_closed(points: &[Point]) -> Option<Path> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let mid = |a: Point, b: Point| Point::from_xy((a.x + b.x) * 0.5, (a.y + b.y) * 0.5);
    let mut pb = PathBuilder::with_capacity(n + 2, 2 * n + 1);
    let start = mid(points[n - 1], points[0]);
    pb.move_to(start.x, start.y);
    for i in 0..n {
        let next = mid(points[i], points[(i + 1) % n]);
        pb.quad_to(points[i].x, points[i].y, next.x, next.y);
    }
    pb.close();
    pb.finish()
}

/// A closed polygon path.
pub(crate) fn polygon(points: &[Point]) -> Option<Path> {
    let (first, rest) = points.split_first()?;
    let mut pb = PathBuilder::with_capacity(points.len() + 1, points.len());
    pb.move_to(first.x, first.y);
    for p in rest {
        pb.line_to(p.x, p.y);
    }
    pb.close();
    pb.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_pixmap_clamps_degenerate_sizes() {
        let p = blank_pixmap(0, 3);
        assert_eq!((p.width(), p.height()), (1, 3));
        assert!(p.data().iter().all(|&b| b == 0));
    }

    #[test]
    fn smooth_closed_needs_three_points_and_stays_inside_their_hull() {
        assert!(smooth_closed(&[Point::zero(), Point::from_xy(1.0, 1.0)]).is_none());
        let square = [
            Point::from_xy(0.0, 0.0),
            Point::from_xy(10.0, 0.0),
            Point::from_xy(10.0, 10.0),
            Point::from_xy(0.0, 10.0),
        ];
        let b = smooth_closed(&square).unwrap().bounds();
        assert!(b.left() >= 0.0 && b.right() <= 10.0 && b.top() >= 0.0 && b.bottom() <= 10.0);
    }
}

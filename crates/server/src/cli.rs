//! What the subcommands share: the parsers of flag values, and printing an answer.

use anyhow::bail;
use pigweight_decode::Target;
use pigweight_inference::BandRule;

#[allow(clippy::print_stdout)] // printing the answer is this command's job
pub(crate) fn print_out(text: &str) {
    print!("{text}");
}

/// Prints `value` as pretty JSON on stdout, the answer of the commands that print one.
pub(crate) fn println_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    print_out(&format!("{}\n", serde_json::to_string_pretty(value)?));
    Ok(())
}

/// The frame a command names with `--t` or `--index`.
pub(crate) fn target(t: Option<f64>, index: Option<u64>) -> anyhow::Result<Target> {
    match (t, index) {
        (Some(t), None) => Ok(Target::Time(t)),
        (None, Some(i)) => Ok(Target::Index(i)),
        _ => bail!("give exactly one of --t and --index"),
    }
}

/// Parses `LOW,HIGH`.
pub(crate) fn pair<T: std::str::FromStr>(s: &str) -> Result<[T; 2], String>
where
    T::Err: std::fmt::Display,
{
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LOW,HIGH, got {s:?}"))?;
    let parse = |v: &str| v.trim().parse::<T>().map_err(|e| format!("{v:?}: {e}"));
    Ok([parse(lo)?, parse(hi)?])
}

/// `--interval`: seconds between index samples, a finite number above 0.
pub(crate) fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if pigweight_indexer::is_interval(v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds above 0")),
    }
}

/// A share strictly between 0 and 1.
pub(crate) fn unit_share(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number between 0 and 1")),
    }
}

/// `--small-object-input`: 0 (none) or a square input size.
pub(crate) fn small_object_input(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v == 0 || (32..=4096).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not 0 or an input size from 32 to 4096")),
    }
}

/// `--band-rule`: JSON of a [`BandRule`]'s fields, each a finite number not below 0.
pub(crate) fn band_rule(s: &str) -> Result<BandRule, String> {
    let rule: BandRule = serde_json::from_str(s).map_err(|e| format!("not a band rule: {e}"))?;
    let fields = [
        rule.below,
        rule.above,
        rule.overlap_iou,
        rule.edge_px,
        rule.edge_area,
        rule.large_area,
    ];
    if fields.iter().all(|v| v.is_finite() && *v >= 0.0) {
        Ok(rule)
    } else {
        Err(format!("{s}: every field must be a number not below 0"))
    }
}

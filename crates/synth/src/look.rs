//! What of a scene's look a tester may fix instead of leaving it to the seed: the floor, the
//! pigs' coats, the light's exposure, how fast the pigs walk and what the people in the pen
//! wear, so that a corner of the operating envelope (dark pigs on a dirt floor in a dim barn,
//! say, a herd on the move, or a person in a pig's pink walking through) is rendered on purpose
//! rather than found among seeds.
//!
//! A setting left unset is drawn from the seed as it always was. A fixed floor or exposure
//! changes only what it names: the seed's draws for it are still made (and then overridden),
//! and the scene's other parts come from streams of their own, so the same seed keeps the same
//! pigs, moves, props and people. A fixed pace maps each pig's own draw into its range: the
//! same pigs start where the seed puts them, and walking faster or slower their moves then
//! part from the seed's. Fixed coats draw the pigs again: a pig's coat decides what else of its
//! looks is drawn, and so its size within the scene's range and the herd's moves. Fixed clothes
//! dress each person in one of them, chosen by the seed's own draw, so the people come and go
//! as the seed has them. Fixed props make each prop one of them, chosen by the seed's own draw:
//! the first prop lies where the seed puts it, the others move as their kinds' draws differ,
//! and the rest of the scene (the people among it) stays the seed's.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::SynthError;

/// The kinds of floor drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Floor {
    /// Plain concrete with stains.
    Concrete,
    /// Concrete with drainage slats over part or all of the frame.
    Slatted,
    /// Straw bedding over dirt.
    Straw,
    /// Packed earth with wet patches.
    Dirt,
}

/// Coat pattern families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coat {
    /// Pink or white (Landrace, Large White).
    Pink,
    /// Pink with dark patches (Pietrain, Old Spot).
    Spotted,
    /// Black or very dark.
    Dark,
    /// Red-brown (Duroc).
    Red,
    /// Black with a pale band over the shoulders (Hampshire, Saddleback).
    Belted,
}

/// Parses the names serde uses (`"straw"`, `"dark"`), for command lines.
fn by_name<T: for<'de> Deserialize<'de>>(s: &str, what: &str, names: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase()))
        .map_err(|_| format!("unknown {what} {s:?} (one of: {names})"))
}

/// What the people in the pen wear, seen from above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clothes {
    /// Navy work clothes.
    Blue,
    /// Green overalls.
    Green,
    /// Orange high-visibility.
    Orange,
    /// Grey.
    Grey,
    /// Off-white, a pale pig's colour.
    White,
    /// Pink, a pig's colour.
    Pink,
    /// Black.
    Black,
    /// Dark red.
    Red,
}

/// The props a pen may hold (`clutter`'s drawings), in the order the seed draws them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prop {
    /// A bucket seen from above.
    Bucket,
    /// A galvanised trough or a round feeder with feed in it.
    Feeder,
    /// A hose lying across the floor.
    Hose,
    /// A toy ball.
    Ball,
    /// A board or a pallet.
    Board,
    /// A patch of dirt or dung.
    Dirt,
    /// A hard shadow from a beam or a gate.
    Shadow,
    /// A card of test-pattern bars.
    Pattern,
}

impl FromStr for Floor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        by_name(s, "floor", "concrete, slatted, straw, dirt")
    }
}

impl FromStr for Coat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        by_name(s, "coat", "pink, spotted, dark, red, belted")
    }
}

impl FromStr for Prop {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        by_name(
            s,
            "prop",
            "bucket, feeder, hose, ball, board, dirt, shadow, pattern",
        )
    }
}

impl FromStr for Clothes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        by_name(s, "clothes", "blue, green, orange, grey, white, pink, black, red")
    }
}

/// What a scene's look keeps fixed; the default fixes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Look {
    /// The floor; `None`: the seed's.
    pub floor: Option<Floor>,
    /// The coats the pigs are drawn from, evenly; empty: the seed's mix of all five.
    pub coats: Vec<Coat>,
    /// Range of the scene's exposure, 1 being the light as the seed sets it up (the seed draws
    /// 0.8-1.12); e.g. [0.3, 0.45] for a dim barn, [1.3, 1.5] for an overexposed one.
    pub exposure: Option<[f32; 2]>,
    /// Range of the pigs' walking pace in body lengths a second, each pig its own (the seed
    /// draws 0.3-0.7); e.g. [1.5, 2.5] for a herd on the move.
    pub pace: Option<[f32; 2]>,
    /// The clothes the people wear, one of them each; empty: the seed's draw among all eight.
    pub clothes: Vec<Clothes>,
    /// The kinds of prop on the floor, one of them each; empty: the seed's draw among all
    /// eight.
    pub props: Vec<Prop>,
}

/// The exposure range a look may ask for.
const EXPOSURE: std::ops::RangeInclusive<f32> = 0.1..=2.5;
/// The pace range a look may ask for, in body lengths a second.
const PACE: std::ops::RangeInclusive<f32> = 0.05..=4.0;
/// The pace the seed draws from when the look leaves it.
pub(crate) const SEED_PACE: [f32; 2] = [0.3, 0.7];

impl Look {
    /// Checks the exposure and pace ranges; the error says what is wrong.
    pub fn validate(&self) -> Result<(), SynthError> {
        for (name, range, allowed) in [("exposure", self.exposure, EXPOSURE), ("pace", self.pace, PACE)] {
            if let Some([lo, hi]) = range
                && !(allowed.contains(&lo) && allowed.contains(&hi) && lo <= hi)
            {
                return Err(SynthError::InvalidConfig(format!(
                    "{name} must be [min, max] with {} <= min <= max <= {}, got [{lo}, {hi}]",
                    allowed.start(),
                    allowed.end()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_serde_writes_them() {
        assert_eq!("Straw".parse::<Floor>(), Ok(Floor::Straw));
        assert_eq!(" dark".parse::<Coat>(), Ok(Coat::Dark));
        let err = "tiles".parse::<Floor>().unwrap_err();
        assert!(err.contains("concrete, slatted, straw, dirt"), "{err}");
        assert_eq!("PINK".parse::<Clothes>(), Ok(Clothes::Pink));
        assert_eq!("feeder".parse::<Prop>(), Ok(Prop::Feeder));
        let err = "tractor".parse::<Prop>().unwrap_err();
        assert!(err.contains("bucket, feeder, hose"), "{err}");
        let err = "tweed".parse::<Clothes>().unwrap_err();
        assert!(
            err.contains("blue, green, orange, grey, white, pink, black, red"),
            "{err}"
        );
        let look: Look =
            serde_json::from_str(r#"{"floor":"dirt","coats":["red","belted"],"clothes":["white"]}"#).unwrap();
        assert_eq!(
            (look.floor, look.coats, look.clothes),
            (
                Some(Floor::Dirt),
                vec![Coat::Red, Coat::Belted],
                vec![Clothes::White]
            )
        );
    }

    #[test]
    fn an_exposure_out_of_range_is_refused() {
        for (range, ok) in [
            ([0.3, 0.45], true),
            ([0.5, 0.4], false),
            ([0.0, 1.0], false),
            ([1.0, 3.0], false),
        ] {
            let look = Look {
                exposure: Some(range),
                ..Look::default()
            };
            assert_eq!(look.validate().is_ok(), ok, "{range:?}");
        }
    }

    #[test]
    fn a_pace_out_of_range_is_refused() {
        for (range, ok) in [
            ([1.5, 2.5], true),
            ([0.05, 0.05], true),
            ([2.0, 1.0], false),
            ([0.0, 1.0], false),
            ([1.0, 5.0], false),
            ([f32::NAN, 1.0], false),
        ] {
            let look = Look {
                pace: Some(range),
                ..Look::default()
            };
            let checked = look.validate();
            assert_eq!(checked.is_ok(), ok, "{range:?}");
            if let Err(e) = checked {
                assert!(e.to_string().contains("pace must be"), "{e}");
            }
        }
    }
}

//! The weighted mix of actions a signed-in virtual user loops over.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

/// One step of a virtual user's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List own videos, publishing one that finished processing.
    MyVideos,
    /// Browse public videos with random page/city/search filters.
    PublicVideos,
    /// Look at the rankings, sometimes for one city.
    Rankings,
    /// Vote for a public video seen while browsing.
    Vote,
    /// Upload the clip.
    Upload,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::MyVideos,
        Action::PublicVideos,
        Action::Rankings,
        Action::Vote,
        Action::Upload,
    ];

    fn name(self) -> &'static str {
        match self {
            Action::MyVideos => "my_videos",
            Action::PublicVideos => "public_videos",
            Action::Rankings => "rankings",
            Action::Vote => "vote",
            Action::Upload => "upload",
        }
    }
}

/// Relative weights of the actions, e.g. `my_videos=20,public_videos=30,...`.
#[derive(Debug, Clone)]
pub struct Mix {
    weights: [u32; 5],
    index: WeightedIndex<u32>,
}

/// The default mix: mostly reads, like a public voting site; one action in twenty
/// is an upload so the worker queue sees steady input.
pub const DEFAULT_MIX: &str = "my_videos=20,public_videos=30,rankings=25,vote=20,upload=5";

impl Mix {
    /// Draws the next action.
    pub fn pick(&self, rng: &mut impl Rng) -> Action {
        Action::ALL[self.index.sample(rng)]
    }

    /// Weight of `action` (0 = never chosen).
    pub fn weight(&self, action: Action) -> u32 {
        self.weights[action as usize]
    }
}

impl Default for Mix {
    fn default() -> Self {
        DEFAULT_MIX.parse().expect("the default mix parses")
    }
}

impl FromStr for Mix {
    type Err = String;

    /// Unlisted actions get weight 0; at least one weight must be positive.
    fn from_str(raw: &str) -> Result<Self, String> {
        let mut weights = [0u32; 5];
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not name=weight"))?;
            let action = Action::ALL
                .into_iter()
                .find(|a| a.name() == name.trim())
                .ok_or_else(|| {
                    let names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
                    format!("unknown action {name:?}; known: {}", names.join(", "))
                })?;
            weights[action as usize] = value
                .trim()
                .parse()
                .map_err(|_| format!("weight {value:?} of {name} is not a whole number"))?;
        }
        let index = WeightedIndex::new(weights)
            .map_err(|_| "the mix needs at least one positive weight".to_string())?;
        Ok(Self { weights, index })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Action::ALL
            .iter()
            .map(|a| format!("{}={}", a.name(), self.weight(*a)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn parses_and_prints_weights() {
        let mix: Mix = "vote=3, upload=1".parse().unwrap();
        assert_eq!(mix.weight(Action::Vote), 3);
        assert_eq!(mix.weight(Action::Rankings), 0);
        assert_eq!(
            mix.to_string(),
            "my_videos=0,public_videos=0,rankings=0,vote=3,upload=1"
        );
        assert_eq!(Mix::default().to_string(), DEFAULT_MIX);
    }

    #[test]
    fn rejects_bad_mixes() {
        assert!("vote".parse::<Mix>().is_err());
        assert!("dance=1".parse::<Mix>().is_err());
        assert!("vote=-1".parse::<Mix>().is_err());
        assert!("vote=0,upload=0".parse::<Mix>().is_err());
    }

    #[test]
    fn picks_follow_the_weights() {
        let mix: Mix = "rankings=3,vote=1".parse().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let draws = 4000;
        let rankings = (0..draws)
            .filter(|_| mix.pick(&mut rng) == Action::Rankings)
            .count();
        // Expected 3000; ±150 is over 5 standard deviations.
        assert!((2850..=3150).contains(&rankings), "{rankings}");
    }
}

//! A fitted model in memory, the rating scale its predictions are clipped
//! to, and the holdout metrics it is judged by.
//!
//! The trainer fills [`Factors`]; the model file is written from it. Nothing
//! here reads or writes a file.

use super::dot::dot;
use super::posterior::{Implicit, Spread};

/// A fitted model in memory, rows in dense-index order.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    pub n_factors: usize,
    pub stride: usize,
    pub global_mean: f32,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
    /// The implicit part of a `bayes_svdpp` model.
    pub implicit: Option<Implicit>,
    /// The parameters' spread over the samples of a `bayes_svdpp` model.
    pub spread: Option<Spread>,
}

impl Factors {
    /// The rating noise's standard deviation, where the model estimated it.
    pub fn noise_std_dev(&self) -> Option<f64> {
        self.spread.as_ref().map(|s| f64::from(s.noise_std_dev))
    }

    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    /// The unclipped estimate; an unknown user or item contributes neither
    /// bias nor factors (Surprise's rule).
    pub fn estimate(&self, user: Option<u32>, item: Option<u32>) -> f32 {
        let mut est = self.global_mean;
        let s = self.stride;
        if let Some(u) = user {
            est += self.user_bias[u as usize];
        }
        if let Some(i) = item {
            est += self.item_bias[i as usize];
        }
        if let (Some(u), Some(i)) = (user, item) {
            let (u, i) = (u as usize * s, i as usize * s);
            est += dot(&self.user_factors[u..u + s], &self.item_factors[i..i + s]);
        }
        est
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    pub rmse: f64,
    pub mae: f64,
}

/// The rating scale predictions are clipped to.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scale {
    pub min: f32,
    pub max: f32,
}

impl Scale {
    /// MovieLens sets with only whole stars run 1–5; with half stars 0.5–5.
    pub fn of(values: &[f32]) -> Scale {
        let half = values.iter().any(|v| v.fract() != 0.0);
        Scale {
            min: if half { 0.5 } else { 1.0 },
            max: 5.0,
        }
    }

    pub fn clip(self, v: f32) -> f32 {
        v.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_clip() {
        assert_eq!(Scale::of(&[1.0, 5.0]), Scale { min: 1.0, max: 5.0 });
        assert_eq!(Scale::of(&[1.0, 4.5]).min, 0.5);
        assert_eq!(Scale::of(&[3.0]).clip(7.2), 5.0);
        assert_eq!(Scale::of(&[3.0]).clip(-1.0), 1.0);
    }
}

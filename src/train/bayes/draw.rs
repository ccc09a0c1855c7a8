//! The random draws of the sampler.
//!
//! Every feature's draw comes from a counter-based stream keyed by (seed,
//! sweep, part, feature), not from a shared generator's sequence, so a
//! feature's noise does not depend on the order features are visited or on
//! how many threads visit them. The few draws of the hyperparameters come from a
//! sequential generator seeded once.

use crate::rng::{mix64, Rng};

/// A standard normal for each key.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    base: u64,
}

impl Stream {
    pub fn new(seed: u64, sweep: usize, part: u64) -> Stream {
        Stream {
            base: mix64(mix64(seed ^ 0x5EED_B1A5) ^ ((sweep as u64) << 24 ^ part)),
        }
    }

    /// The standard normal of `index` (Box-Muller on two mixed words).
    pub fn normal(&self, index: u64) -> f64 {
        let a = mix64(self.base ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let b = mix64(a ^ self.base);
        let u1 = 1.0 - (a >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let u2 = (b >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A draw from the normal whose log-density is `-quad/2 x² + lin x`:
/// mean `lin / quad`, precision `quad`.
#[inline]
pub fn from_precision(quad: f64, lin: f64, z: f64) -> f64 {
    lin / quad + z / quad.sqrt()
}

/// A gamma draw with `shape` and `rate` (Marsaglia and Tsang; a shape below
/// one is boosted by a uniform's power).
pub fn gamma(rng: &mut Rng, shape: f64, rate: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.next_f64();
        return gamma(rng, shape + 1.0, rate) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let (x, v) = loop {
            let x = rng.normal();
            let v = 1.0 + c * x;
            if v > 0.0 {
                break (x, v * v * v);
            }
        };
        let u = 1.0 - rng.next_f64();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v / rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = xs.collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
    }

    #[test]
    fn the_stream_is_a_standard_normal_fixed_by_its_key() {
        let s = Stream::new(7, 3, 1);
        let (mean, var) = moments((0..200_000).map(|i| s.normal(i)));
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
        assert_eq!(s.normal(5), Stream::new(7, 3, 1).normal(5));
        assert_ne!(s.normal(5), Stream::new(7, 4, 1).normal(5));
        assert_ne!(s.normal(5), Stream::new(8, 3, 1).normal(5));
    }

    #[test]
    fn gamma_draws_have_the_gamma_moments() {
        let mut rng = Rng::new(1);
        for (shape, rate) in [(0.5, 1.0), (2.0, 3.0), (5000.0, 40.0)] {
            let (mean, var) = moments((0..100_000).map(|_| gamma(&mut rng, shape, rate)));
            let (m, v) = (shape / rate, shape / (rate * rate));
            assert!(
                (mean - m).abs() < 0.02 * m,
                "shape {shape}: mean {mean} vs {m}"
            );
            assert!(
                (var - v).abs() < 0.05 * v,
                "shape {shape}: var {var} vs {v}"
            );
        }
    }
}

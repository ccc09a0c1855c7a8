//! What a rating must be before it is stored: a user id the daemon can
//! keep, a value on the configured scale and step, a movie in the catalogue.
//! Each fault has its own [`Violation`]; this module never speaks the
//! protocol (the server maps a violation to its error code).

use serde::{Deserialize, Serialize};

/// The `[ratings]` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub min: f32,
    pub max: f32,
    pub step: f32,
    pub max_user_id_bytes: usize,
}

impl Default for Rules {
    /// MovieLens 1M's scale: whole stars from 1 to 5.
    fn default() -> Rules {
        Rules {
            min: 1.0,
            max: 5.0,
            step: 1.0,
            max_user_id_bytes: 128,
        }
    }
}

/// What is wrong with a rating, or with a line of a file that should have
/// been one. Serialised (in `import`'s `rejected`) as the snake_case name of
/// the protocol error code for the same fault, which it was before the store
/// had kinds of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Violation {
    /// Not a rating at all: the wrong number of fields, a movie id or
    /// timestamp that is not a whole number, text that is not UTF-8.
    #[serde(rename = "invalid_params")]
    Malformed,
    /// A user id that is empty, too long, reserved or holds control
    /// characters.
    InvalidUser,
    /// A rating that is not a number, outside the scale or off its step.
    InvalidRating,
    /// A movie not in the catalogue.
    UnknownMovie,
}

/// Why a rating was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub code: Violation,
    pub message: String,
}

fn refused(code: Violation, message: String) -> Refused {
    Refused { code, message }
}

impl Rules {
    /// A user id any method may name: not empty, not longer than the
    /// limit, no control characters (it ends up in logs and tables).
    pub fn user_id(&self, user: &str) -> Result<(), Refused> {
        if user.trim().is_empty() {
            return Err(refused(
                Violation::InvalidUser,
                "the user id is empty".into(),
            ));
        }
        if user.len() > self.max_user_id_bytes {
            return Err(refused(
                Violation::InvalidUser,
                format!(
                    "the user id is {} bytes long; at most {} are allowed",
                    user.len(),
                    self.max_user_id_bytes
                ),
            ));
        }
        if user.chars().any(char::is_control) {
            return Err(refused(
                Violation::InvalidUser,
                "the user id contains a control character".into(),
            ));
        }
        Ok(())
    }

    /// A user id ratings may be stored under: [`user_id`](Rules::user_id),
    /// and not one of the dataset's users.
    pub fn user(&self, user: &str) -> Result<(), Refused> {
        self.user_id(user)?;
        if user.starts_with(crate::movielens::DATASET_USER_PREFIX) {
            return Err(refused(
                Violation::InvalidUser,
                format!(
                    "user ids starting with '{}' name the dataset's users",
                    crate::movielens::DATASET_USER_PREFIX
                ),
            ));
        }
        Ok(())
    }

    /// A rating on the scale and its step.
    pub fn rating(&self, rating: f64) -> Result<f32, Refused> {
        let (min, max, step) = (self.min as f64, self.max as f64, self.step as f64);
        if !rating.is_finite() || rating < min || rating > max {
            return Err(refused(
                Violation::InvalidRating,
                format!("rating {rating} is outside the scale {min} to {max}"),
            ));
        }
        let steps = (rating - min) / step;
        if (steps - steps.round()).abs() > 1e-6 {
            return Err(refused(
                Violation::InvalidRating,
                format!("rating {rating} is not on the scale's step of {step} from {min}"),
            ));
        }
        Ok(rating as f32)
    }

    /// Check the limits themselves (for the config).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.min.is_finite() && self.max.is_finite() && self.min < self.max) {
            return Err((
                "ratings.max",
                format!("must be above ratings.min ({} and {})", self.min, self.max),
            ));
        }
        if !(self.step > 0.0 && self.step <= self.max - self.min) {
            return Err((
                "ratings.step",
                format!("must be positive and at most max - min, got {}", self.step),
            ));
        }
        if !(1..=4096).contains(&self.max_user_id_bytes) {
            return Err((
                "ratings.max_user_id_bytes",
                format!("must be 1-4096, got {}", self.max_user_id_bytes),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_has_its_code() {
        let r = Rules::default();
        assert_eq!(r.rating(4.0), Ok(4.0));
        assert_eq!(r.rating(1.0), Ok(1.0));
        assert_eq!(r.rating(5.0), Ok(5.0));
        for bad in [0.0, 5.5, 6.0, -1.0, f64::NAN, f64::INFINITY, 3.5] {
            let e = r.rating(bad).unwrap_err();
            assert_eq!(e.code, Violation::InvalidRating, "{bad}");
        }
        assert!(r.rating(3.5).unwrap_err().message.contains("step"));
        let half = Rules {
            min: 0.5,
            step: 0.5,
            ..r
        };
        assert_eq!(half.rating(3.5), Ok(3.5));
        assert!(half.rating(3.25).is_err());
        assert!(r.user("alice").is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(129), "ml:5"] {
            assert_eq!(
                r.user(bad).unwrap_err().code,
                Violation::InvalidUser,
                "{bad:?}"
            );
        }
        assert!(r.user(&"é".repeat(64)).is_ok());
        assert!(r.user_id("ml:5").is_ok());
        for bad in ["", "   ", "a\tb", &"x".repeat(129)] {
            assert_eq!(r.user_id(bad).unwrap_err().code, Violation::InvalidUser);
        }
        assert!(Rules { step: 0.0, ..r }.validate().is_err());
        assert!(Rules { max: 1.0, ..r }.validate().is_err());
    }
}

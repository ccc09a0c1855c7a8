//! The served model: a verified, memory-mapped model file and the lookups and
//! scores made on it.
//!
//! It owns the file format ([`format`](mod@format)), publishing into a models directory
//! ([`publish`]) and reading a model in place. It never copies the factor
//! arrays out of the mapping and never panics on a file's contents: anything
//! it indexes by was checked when the file was opened.

pub mod foldin;
pub mod format;
mod posterior;
pub mod publish;
pub mod quant;
pub mod related;
pub mod score;
#[cfg(test)]
pub(crate) mod tests;

use std::io::{Seek, Write};
use std::path::Path;

use format::{Kind, ModelError, ModelFile, Payload};
use serde::{Deserialize, Serialize};

use crate::numeric::{dot, Factors, Metrics, Params, Scale};

/// The JSON metadata block of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Version id: the UTC training time and a random suffix, so that ids
    /// sort by age.
    pub version: String,
    /// RFC 3339 UTC time the model was trained.
    pub trained_at: String,
    /// The recd release that wrote it.
    pub recd_version: String,
    pub params: Params,
    /// Holdout metrics; absent when trained without a holdout.
    pub metrics: Option<Metrics>,
    pub holdout_fraction: f64,
    pub counts: Counts,
    /// Highest database rating sequence included (0: none).
    pub db_watermark: i64,
    /// The highest erasure (`forget`) recorded before the database's
    /// ratings were read: none of those users' erased ratings is in the
    /// model. 0 in files older than the field.
    #[serde(default)]
    pub erased_through: i64,
    /// Where the base dataset was read from.
    pub dataset: String,
    pub training_seconds: f64,
    /// The standard deviation of the rating noise a `bayes_svdpp` model
    /// estimated: how far a rating is trusted when a trained user's ratings
    /// since training update their vector. Absent for other models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_std_dev: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// All ratings the model was built from (train and holdout).
    pub ratings: u64,
    pub train_ratings: u64,
    pub test_ratings: u64,
    pub dataset_ratings: u64,
    pub database_ratings: u64,
    pub users: u64,
    pub items: u64,
}

/// Everything a model file is written from.
pub struct ModelParts<'a> {
    pub meta: &'a Metadata,
    pub factors: &'a Factors,
    pub scale: Scale,
    /// External user id of each user index.
    pub user_ids: &'a [String],
    /// Movie id of each item index.
    pub movie_ids: &'a [u32],
    /// CSR of the item indices each user rated, sorted within a user.
    pub rated_offsets: &'a [u64],
    pub rated_items: &'a [u32],
    pub item_counts: &'a [u32],
    pub item_means: &'a [f32],
    pub titles: &'a [String],
    pub genres: &'a [String],
}

/// Write a model file.
pub fn write_model<W: Write + Seek>(out: &mut W, parts: &ModelParts<'_>) -> std::io::Result<u64> {
    let f = parts.factors;
    let dims = format::Dims {
        n_users: f.n_users() as u32,
        n_items: f.n_items() as u32,
        n_factors: f.n_factors as u32,
        stride: f.stride as u32,
        global_mean: f.global_mean,
        scale_min: parts.scale.min,
        scale_max: parts.scale.max,
        reserved: 0,
    };
    let mut user_order: Vec<u32> = (0..parts.user_ids.len() as u32).collect();
    user_order.sort_by(|&a, &b| parts.user_ids[a as usize].cmp(&parts.user_ids[b as usize]));
    let mut movie_order: Vec<u32> = (0..parts.movie_ids.len() as u32).collect();
    movie_order.sort_by_key(|&i| parts.movie_ids[i as usize]);
    let meta = serde_json::to_vec(parts.meta).map_err(std::io::Error::other)?;
    let mut sections = vec![
        (Kind::Metadata, Payload::Owned(meta)),
        (
            Kind::Dims,
            Payload::Owned(bytemuck::bytes_of(&dims).to_vec()),
        ),
        (Kind::UserBias, format::floats(&f.user_bias)),
        (Kind::ItemBias, format::floats(&f.item_bias)),
        (Kind::UserFactors, format::floats(&f.user_factors)),
        (Kind::ItemFactors, format::floats(&f.item_factors)),
        (Kind::UserIds, format::strings(parts.user_ids)),
        (
            Kind::UserOrder,
            Payload::Owned(bytemuck::cast_slice(&user_order).to_vec()),
        ),
        (Kind::MovieIds, format::words(parts.movie_ids)),
        (
            Kind::MovieOrder,
            Payload::Owned(bytemuck::cast_slice(&movie_order).to_vec()),
        ),
        (Kind::RatedOffsets, format::longs(parts.rated_offsets)),
        (Kind::RatedItems, format::words(parts.rated_items)),
        (Kind::ItemCounts, format::words(parts.item_counts)),
        (Kind::ItemMeans, format::floats(parts.item_means)),
        (Kind::Titles, format::strings(parts.titles)),
        (Kind::Genres, format::strings(parts.genres)),
    ];
    if let Some(imp) = &f.implicit {
        sections.extend([
            (Kind::ImplicitFactors, format::floats(&imp.item_factors)),
            (Kind::ImplicitWeights, format::floats(&imp.item_weights)),
            (Kind::UserOwnFactors, format::floats(&imp.user_factors)),
            (
                Kind::UserImplicitSums,
                Payload::Bytes(bytemuck::cast_slice(&imp.user_sums)),
            ),
        ]);
    }
    if let Some(sp) = &f.spread {
        sections.extend([
            (Kind::UserBiasSpread, format::floats(&sp.user_bias)),
            (Kind::ItemBiasSpread, format::floats(&sp.item_bias)),
            (Kind::UserFactorSpread, format::floats(&sp.user_factors)),
            (Kind::ItemFactorSpread, format::floats(&sp.item_factors)),
            (Kind::UserOwnBiasSpread, format::floats(&sp.user_own_bias)),
            (
                Kind::UserOwnFactorSpread,
                format::floats(&sp.user_own_factors),
            ),
        ]);
    }
    format::write(out, &sections)
}

/// A verified model, read in place.
#[derive(Debug)]
pub struct Model {
    file: ModelFile,
    meta: Metadata,
}

impl Model {
    pub fn open(path: &Path) -> Result<Model, ModelError> {
        let file = ModelFile::open(path)?;
        let meta = serde_json::from_slice(file.bytes(Kind::Metadata)).map_err(|e| {
            ModelError::Invalid {
                path: path.to_owned(),
                what: format!("metadata is not valid: {e}"),
            }
        })?;
        Ok(Model { file, meta })
    }

    /// Let the file's pages go from this process's resident set (a
    /// retrain, after reading the current model, does not carry it).
    pub fn release_pages(&self) {
        self.file.release_pages();
    }

    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn file_len(&self) -> usize {
        self.file.len()
    }

    pub fn n_users(&self) -> usize {
        self.file.dims().n_users as usize
    }

    pub fn n_items(&self) -> usize {
        self.file.dims().n_items as usize
    }

    pub fn n_factors(&self) -> usize {
        self.file.dims().n_factors as usize
    }

    pub fn global_mean(&self) -> f32 {
        self.file.dims().global_mean
    }

    pub fn scale(&self) -> Scale {
        let d = self.file.dims();
        Scale {
            min: d.scale_min,
            max: d.scale_max,
        }
    }

    /// Index of an external user id.
    pub fn user_index(&self, id: &str) -> Option<u32> {
        let ids = self.file.strings(Kind::UserIds);
        let order = self.file.u32s(Kind::UserOrder);
        order
            .binary_search_by(|&i| ids.get(i as usize).cmp(id))
            .ok()
            .map(|pos| order[pos])
    }

    pub fn user_id(&self, user: u32) -> &str {
        self.file.strings(Kind::UserIds).get(user as usize)
    }

    /// How many of the users are the base dataset's (ids starting with
    /// `ml:`): a run in the sorted order, found by two binary searches.
    pub fn dataset_users(&self) -> usize {
        use crate::movielens::DATASET_USER_PREFIX as PREFIX;
        let ids = self.file.strings(Kind::UserIds);
        let order = self.file.u32s(Kind::UserOrder);
        let first = order.partition_point(|&i| ids.get(i as usize) < PREFIX);
        let past = order.partition_point(|&i| {
            let id = ids.get(i as usize);
            id < PREFIX || id.starts_with(PREFIX)
        });
        past - first
    }

    /// Index of a movie id.
    pub fn item_index(&self, movie: u32) -> Option<u32> {
        let ids = self.file.u32s(Kind::MovieIds);
        let order = self.file.u32s(Kind::MovieOrder);
        order
            .binary_search_by_key(&movie, |&i| ids[i as usize])
            .ok()
            .map(|pos| order[pos])
    }

    pub fn movie_id(&self, item: u32) -> u32 {
        self.file.u32s(Kind::MovieIds)[item as usize]
    }

    pub fn title(&self, item: u32) -> &str {
        self.file.strings(Kind::Titles).get(item as usize)
    }

    pub fn genres(&self, item: u32) -> &str {
        self.file.strings(Kind::Genres).get(item as usize)
    }

    pub fn item_count(&self, item: u32) -> u32 {
        self.file.u32s(Kind::ItemCounts)[item as usize]
    }

    pub fn item_mean(&self, item: u32) -> f32 {
        self.file.f32s(Kind::ItemMeans)[item as usize]
    }

    fn row(&self, kind: Kind, index: u32) -> &[f32] {
        let s = self.file.dims().stride as usize;
        let at = index as usize * s;
        &self.file.f32s(kind)[at..at + s]
    }

    /// Padded length of a factor row.
    pub fn stride(&self) -> usize {
        self.file.dims().stride as usize
    }

    /// All item factor rows, `stride()` floats each.
    pub fn item_factor_matrix(&self) -> &[f32] {
        self.file.f32s(Kind::ItemFactors)
    }

    pub fn user_factors(&self, user: u32) -> &[f32] {
        self.row(Kind::UserFactors, user)
    }

    pub fn item_factors(&self, item: u32) -> &[f32] {
        self.row(Kind::ItemFactors, item)
    }

    pub fn user_bias(&self, user: u32) -> f32 {
        self.file.f32s(Kind::UserBias)[user as usize]
    }

    /// Every item's bias, by item index.
    pub fn item_biases(&self) -> &[f32] {
        self.file.f32s(Kind::ItemBias)
    }

    pub fn item_bias(&self, item: u32) -> f32 {
        self.file.f32s(Kind::ItemBias)[item as usize]
    }

    /// Item indices the user rated, ascending.
    pub fn rated_items(&self, user: u32) -> &[u32] {
        let offs = self.file.u64s(Kind::RatedOffsets);
        let (a, b) = (
            offs[user as usize] as usize,
            offs[user as usize + 1] as usize,
        );
        &self.file.u32s(Kind::RatedItems)[a..b]
    }

    /// Predicted rating, clipped to the scale; unknown parts contribute
    /// nothing, as in training.
    pub fn predict(&self, user: Option<u32>, item: Option<u32>) -> f32 {
        let mut est = self.global_mean();
        if let Some(u) = user {
            est += self.user_bias(u);
        }
        if let Some(i) = item {
            est += self.item_bias(i);
        }
        if let (Some(u), Some(i)) = (user, item) {
            est += dot(self.user_factors(u), self.item_factors(i));
        }
        self.scale().clip(est)
    }
}

//! The checks a model file passes before anything reads it: length, magic,
//! version, checksum, then every structural invariant the accessors of
//! [`ModelFile`] index by (section bounds, dimensions, offsets, orders,
//! UTF-8). A file failing any of them is refused whole; nothing here panics
//! on a file's bytes.

use std::ops::Range;
use std::path::PathBuf;

use memmap2::Mmap;

use super::{
    u32_at, u64_at, Dims, Kind, ModelError, ModelFile, CHECKSUM_AT, ENTRY_LEN, FORMAT_VERSION,
    GROUPS, HEADER_LEN, KINDS, KIND_SLOTS, MAGIC, MAX_SECTIONS,
};

impl ModelFile {
    pub(super) fn verify(path: PathBuf, map: Mmap) -> Result<ModelFile, ModelError> {
        let bad = |what: String| ModelError::Invalid {
            path: path.clone(),
            what,
        };
        let b: &[u8] = &map;
        if &b[..8] != MAGIC {
            return Err(ModelError::Foreign { path });
        }
        let version = u32_at(b, 8);
        if version > FORMAT_VERSION {
            return Err(ModelError::NewerVersion {
                path,
                found: version,
            });
        }
        if version == 0 {
            return Err(bad("format version 0".into()));
        }
        let expected = u64_at(b, 16);
        if expected != b.len() as u64 {
            if expected > b.len() as u64 {
                return Err(ModelError::Truncated {
                    path,
                    expected,
                    actual: b.len() as u64,
                });
            }
            return Err(bad(format!(
                "{} bytes, but the header says {expected}",
                b.len()
            )));
        }
        let stored = u32_at(b, CHECKSUM_AT);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&b[..CHECKSUM_AT]);
        crc.update(&[0; 4]);
        crc.update(&b[CHECKSUM_AT + 4..]);
        let computed = crc.finalize();
        if stored != computed {
            return Err(ModelError::Checksum {
                path,
                stored,
                computed,
            });
        }

        let count = u32_at(b, 12) as usize;
        if count > MAX_SECTIONS || HEADER_LEN + count * ENTRY_LEN > b.len() {
            return Err(bad(format!(
                "section table of {count} entries does not fit"
            )));
        }
        let mut sections: [Range<usize>; KIND_SLOTS] = Default::default();
        let mut seen = [false; KIND_SLOTS];
        for n in 0..count {
            let e = HEADER_LEN + n * ENTRY_LEN;
            let Some(kind) = Kind::from_u32(u32_at(b, e)) else {
                continue; // a section this version does not know: skip it
            };
            let (off, len) = (u64_at(b, e + 8), u64_at(b, e + 16));
            let end = off.checked_add(len).filter(|&end| end <= b.len() as u64);
            let Some(end) = end else {
                return Err(bad(format!("section {kind:?} lies outside the file")));
            };
            if !off.is_multiple_of(8) {
                return Err(bad(format!("section {kind:?} is not aligned")));
            }
            if std::mem::replace(&mut seen[kind as usize], true) {
                return Err(bad(format!("section {kind:?} appears twice")));
            }
            sections[kind as usize] = off as usize..end as usize;
        }
        if let Some(k) = KINDS.iter().find(|k| !seen[**k as usize]) {
            return Err(bad(format!("section {k:?} is missing")));
        }
        for group in GROUPS {
            let held = group.iter().any(|k| seen[*k as usize]);
            if let Some(k) = group.iter().find(|k| held && !seen[**k as usize]) {
                return Err(bad(format!(
                    "section {k:?} is missing beside {:?}",
                    group[0]
                )));
            }
        }
        let dims_bytes = &b[sections[Kind::Dims as usize].clone()];
        let dims: Dims = bytemuck::try_pod_read_unaligned(dims_bytes).map_err(|_| {
            bad(format!(
                "dimensions section is {} bytes, expected 32",
                dims_bytes.len()
            ))
        })?;
        let file = ModelFile {
            path,
            map,
            sections,
            present: seen,
            dims,
        };
        file.check_structure().map_err(|what| ModelError::Invalid {
            path: file.path.clone(),
            what,
        })?;
        // The checks read every page. Let them go from this process's
        // resident set (they stay in the page cache, and what is used later
        // comes back on a touch): a retrain that opens the current model
        // for its quality gate should not carry the whole file, a gigabyte
        // at Netflix's size, through training.
        file.release_pages();
        Ok(file)
    }

    /// Let the file's pages go from this process's resident set; they stay
    /// in the page cache, and a later read maps them again.
    pub fn release_pages(&self) {
        // SAFETY: the mapping is read-only and shared with an unchanging
        // file, so dropping its pages loses nothing: a later read maps the
        // same bytes again from the file.
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }

    /// Every invariant the accessors index by.
    fn check_structure(&self) -> Result<(), String> {
        let d = self.dims;
        let (nu, ni) = (d.n_users as usize, d.n_items as usize);
        if !(d.stride as usize).is_multiple_of(crate::numeric::LANES) || d.stride < d.n_factors {
            return Err(format!(
                "factor stride {} does not fit {} factors",
                d.stride, d.n_factors
            ));
        }
        if !(d.global_mean.is_finite()
            && d.scale_min.is_finite()
            && d.scale_max.is_finite()
            && d.scale_min <= d.scale_max)
        {
            return Err("global mean or rating scale is not a number".into());
        }
        let words = |k: Kind, n: Option<usize>| -> Result<(), String> {
            let got = self.sections[k as usize].len();
            match n.and_then(|n| n.checked_mul(4)) {
                Some(want) if want == got => Ok(()),
                _ => Err(format!(
                    "section {k:?} is {got} bytes, expected {n:?} values"
                )),
            }
        };
        let stride = d.stride as usize;
        words(Kind::UserBias, Some(nu))?;
        words(Kind::ItemBias, Some(ni))?;
        words(Kind::UserFactors, nu.checked_mul(stride))?;
        words(Kind::ItemFactors, ni.checked_mul(stride))?;
        words(Kind::UserOrder, Some(nu))?;
        words(Kind::MovieIds, Some(ni))?;
        words(Kind::MovieOrder, Some(ni))?;
        words(Kind::ItemCounts, Some(ni))?;
        words(Kind::ItemMeans, Some(ni))?;
        let rated = self.sections[Kind::RatedItems as usize].len();
        let implicit = self.has(Kind::ImplicitFactors);
        let spread = self.has(Kind::UserBiasSpread);
        for (k, n, held) in [
            (Kind::ImplicitFactors, ni.checked_mul(stride), implicit),
            (Kind::ImplicitWeights, Some(ni), implicit),
            (Kind::UserOwnFactors, nu.checked_mul(stride), implicit),
            (Kind::UserImplicitSums, nu.checked_mul(4), implicit),
            (Kind::UserBiasSpread, Some(nu), spread),
            (Kind::ItemBiasSpread, Some(ni), spread),
            (Kind::UserFactorSpread, nu.checked_mul(stride), spread),
            (Kind::ItemFactorSpread, ni.checked_mul(stride), spread),
            (Kind::UserOwnBiasSpread, Some(nu), spread),
            (Kind::UserOwnFactorSpread, nu.checked_mul(stride), spread),
        ] {
            if held {
                words(k, n)?;
            }
        }
        if !rated.is_multiple_of(4) {
            return Err(format!(
                "section RatedItems is {rated} bytes, not a whole number of items"
            ));
        }
        if self.sections[Kind::RatedOffsets as usize].len() != (nu + 1) * 8 {
            return Err("rated-items offsets do not match the user count".into());
        }
        for k in [Kind::UserIds, Kind::Titles, Kind::Genres] {
            let n = if k == Kind::UserIds { nu } else { ni };
            self.check_strings(k, n)?;
        }
        check_permutation(self.u32s(Kind::UserOrder), nu, "user order")?;
        check_permutation(self.u32s(Kind::MovieOrder), ni, "movie order")?;
        let ids = self.u32s(Kind::MovieIds);
        let order = self.u32s(Kind::MovieOrder);
        if order
            .windows(2)
            .any(|w| ids[w[0] as usize] >= ids[w[1] as usize])
        {
            return Err("movie ids are not unique and ordered".into());
        }
        let users = self.strings(Kind::UserIds);
        if order_is_unsorted(self.u32s(Kind::UserOrder), |i| users.get(i)) {
            return Err("user ids are not unique and ordered".into());
        }
        let offsets = self.u64s(Kind::RatedOffsets);
        let items = self.u32s(Kind::RatedItems);
        if offsets.first() != Some(&0)
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last().copied() != Some(items.len() as u64)
        {
            return Err("rated-items offsets are not monotone".into());
        }
        if items.iter().any(|&i| i as usize >= ni) {
            return Err("a rated item is out of range".into());
        }
        Ok(())
    }

    fn check_strings(&self, kind: Kind, n: usize) -> Result<(), String> {
        let b = self.bytes(kind);
        let bad = || format!("string table {kind:?} is malformed");
        if b.len() < 4 || u32_at(b, 0) as usize != n || b.len() < 4 + 4 * (n + 1) {
            return Err(bad());
        }
        let offs: &[u32] = bytemuck::cast_slice(&b[4..4 + 4 * (n + 1)]);
        let text = &b[4 + 4 * (n + 1)..];
        if offs[0] != 0 || offs.windows(2).any(|w| w[0] > w[1]) || offs[n] as usize > text.len() {
            return Err(bad());
        }
        for w in offs.windows(2) {
            std::str::from_utf8(&text[w[0] as usize..w[1] as usize])
                .map_err(|_| format!("string table {kind:?} holds invalid UTF-8"))?;
        }
        Ok(())
    }
}

fn check_permutation(order: &[u32], n: usize, what: &str) -> Result<(), String> {
    let mut seen = vec![false; n];
    for &i in order {
        match seen.get_mut(i as usize) {
            Some(s) if !*s => *s = true,
            _ => return Err(format!("{what} is not a permutation")),
        }
    }
    Ok(())
}

fn order_is_unsorted<'a>(order: &[u32], key: impl Fn(usize) -> &'a str) -> bool {
    order
        .windows(2)
        .any(|w| key(w[0] as usize) >= key(w[1] as usize))
}

//! Sparse rows built from (row, column) pairs: each row's columns sorted and
//! without repeats. The rated items of the model file and the implicit
//! features of the Bayesian trainer are both kept this way.

/// Sparse rows: `offsets[r]..offsets[r + 1]` index `cols`.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    offsets: Vec<usize>,
    cols: Vec<u32>,
}

impl Csr {
    /// Rows `rows[k]` holding `cols[k]`, each row's columns sorted and without
    /// repeats.
    pub fn build(n_rows: usize, rows: &[u32], cols: &[u32]) -> Csr {
        Csr::build_parts(n_rows, &[(rows, cols)])
    }

    /// As [`Csr::build`], from pairs held in several parts.
    pub fn build_parts(n_rows: usize, parts: &[(&[u32], &[u32])]) -> Csr {
        let offsets = offsets(n_rows, parts.iter().flat_map(|&(rows, _)| rows));
        let mut out = vec![0u32; offsets[n_rows]];
        let mut next = offsets.clone();
        for &(rows, cols) in parts {
            for (&r, &c) in rows.iter().zip(cols) {
                out[next[r as usize]] = c;
                next[r as usize] += 1;
            }
        }
        // Sort and drop repeats per row, compacting in place.
        let mut w = 0;
        let mut compact = vec![0usize; n_rows + 1];
        for r in 0..n_rows {
            let (a, b) = (offsets[r], offsets[r + 1]);
            out[a..b].sort_unstable();
            let mut last = None;
            for k in a..b {
                if last != Some(out[k]) {
                    last = Some(out[k]);
                    out[w] = out[k];
                    w += 1;
                }
            }
            compact[r + 1] = w;
        }
        out.truncate(w);
        Csr {
            offsets: compact,
            cols: out,
        }
    }

    pub fn row(&self, r: usize) -> &[u32] {
        &self.cols[self.offsets[r]..self.offsets[r + 1]]
    }

    /// Every row's columns, row after row.
    pub fn cols(&self) -> &[u32] {
        &self.cols
    }

    /// The row offsets and the columns.
    pub fn into_parts(self) -> (Vec<usize>, Vec<u32>) {
        (self.offsets, self.cols)
    }
}

/// Row offsets of `rows` (row `r`'s entries are `o[r]..o[r + 1]`).
pub fn offsets<'a>(n_rows: usize, rows: impl IntoIterator<Item = &'a u32>) -> Vec<usize> {
    let mut o = vec![0usize; n_rows + 1];
    for &r in rows {
        o[r as usize + 1] += 1;
    }
    for r in 0..n_rows {
        o[r + 1] += o[r];
    }
    o
}

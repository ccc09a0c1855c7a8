//! The model file: layout, writer and verifying reader.
//!
//! ```text
//! 0   magic "RECDMODL"            8   format version (u32)
//! 12  section count (u32)        16  file length (u64)
//! 24  CRC-32 of the whole file, these 4 bytes read as zero (u32)
//! 28  reserved up to 64
//! 64  section table: per section kind (u32), reserved (u32), offset (u64), length (u64)
//! ..  sections, each starting on a 64-byte boundary
//! ```
//!
//! All integers and floats are little-endian. Numeric sections are used in
//! place from the mapping; string tables are `count (u32)`, `count + 1`
//! offsets (u32) and the UTF-8 bytes. Everything a reader later indexes with
//! is checked once in [`ModelFile::open`], so no accessor can go out of
//! bounds on a file's contents; a file that fails a check is refused whole.

use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

mod checks;

#[cfg(target_endian = "big")]
compile_error!(
    "the model file is little-endian and is used in place: big-endian targets are not supported"
);

pub const MAGIC: &[u8; 8] = b"RECDMODL";
/// The newest format version this release reads. A file is written with
/// the oldest version that holds its sections, so a model without the
/// version-2 sections still opens in releases that read version 1 only.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 24;
const ALIGN: usize = 64;
const CHECKSUM_AT: usize = 24;
const MAX_SECTIONS: usize = 256;

/// What a section holds. The numbers are part of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Kind {
    Metadata = 1,
    Dims = 2,
    UserBias = 3,
    ItemBias = 4,
    UserFactors = 5,
    ItemFactors = 6,
    UserIds = 7,
    UserOrder = 8,
    MovieIds = 9,
    MovieOrder = 10,
    RatedOffsets = 11,
    RatedItems = 12,
    ItemCounts = 13,
    ItemMeans = 14,
    Titles = 15,
    Genres = 16,
    /// y_j of every movie (`stride` floats each).
    ImplicitFactors = 17,
    /// w_j of every movie.
    ImplicitWeights = 18,
    /// v_u of every user (`stride` floats each).
    UserOwnFactors = 19,
    /// |N(u)|, W and Y of every user ([`ImplicitSums`], 16 bytes each).
    UserImplicitSums = 20,
    /// The standard deviation of each user bias over the samples.
    UserBiasSpread = 21,
    ItemBiasSpread = 22,
    /// The standard deviation of each user factor (`stride` floats each).
    UserFactorSpread = 23,
    ItemFactorSpread = 24,
    /// The standard deviation of each user's own linear weight w_u.
    UserOwnBiasSpread = 25,
    /// The same for each component of each user's own vector v_u (`stride`
    /// floats each).
    UserOwnFactorSpread = 26,
}

/// Every section kind a model file must hold, in file order.
pub const KINDS: [Kind; 16] = [
    Kind::Metadata,
    Kind::Dims,
    Kind::UserBias,
    Kind::ItemBias,
    Kind::UserFactors,
    Kind::ItemFactors,
    Kind::UserIds,
    Kind::UserOrder,
    Kind::MovieIds,
    Kind::MovieOrder,
    Kind::RatedOffsets,
    Kind::RatedItems,
    Kind::ItemCounts,
    Kind::ItemMeans,
    Kind::Titles,
    Kind::Genres,
];

/// The sections a file holds all or none of (format version 2): the
/// implicit part of a `bayes_svdpp` model, and its spread.
pub const GROUPS: [&[Kind]; 2] = [
    &[
        Kind::ImplicitFactors,
        Kind::ImplicitWeights,
        Kind::UserOwnFactors,
        Kind::UserImplicitSums,
    ],
    &[
        Kind::UserBiasSpread,
        Kind::ItemBiasSpread,
        Kind::UserFactorSpread,
        Kind::ItemFactorSpread,
        Kind::UserOwnBiasSpread,
        Kind::UserOwnFactorSpread,
    ],
];

/// One past the highest section number.
const KIND_SLOTS: usize = Kind::UserOwnFactorSpread as usize + 1;

impl Kind {
    fn from_u32(v: u32) -> Option<Kind> {
        KINDS
            .iter()
            .chain(GROUPS.iter().copied().flatten())
            .copied()
            .find(|k| *k as u32 == v)
    }

    /// The format version that introduced the section.
    fn since(self) -> u32 {
        if (self as usize) <= Kind::Genres as usize {
            1
        } else {
            2
        }
    }
}

/// The fixed-size numbers of a model (section `Dims`, 32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Dims {
    pub n_users: u32,
    pub n_items: u32,
    pub n_factors: u32,
    pub stride: u32,
    pub global_mean: f32,
    pub scale_min: f32,
    pub scale_max: f32,
    pub reserved: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a recd model file (wrong magic bytes)", path.display())]
    Foreign { path: PathBuf },
    #[error("{}: truncated model file: {actual} bytes, expected {expected}", path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{}: model format version {found} is newer than this recd reads (up to {FORMAT_VERSION}); upgrade recd", path.display())]
    NewerVersion { path: PathBuf, found: u32 },
    #[error("{}: corrupt model file: checksum mismatch (stored {stored:08x}, computed {computed:08x})", path.display())]
    Checksum {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error("{}: corrupt model file: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
}

/// A section's bytes before it is written.
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Bytes(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

pub fn floats(v: &[f32]) -> Payload<'_> {
    Payload::Bytes(bytemuck::cast_slice(v))
}

pub fn words(v: &[u32]) -> Payload<'_> {
    Payload::Bytes(bytemuck::cast_slice(v))
}

pub fn longs(v: &[u64]) -> Payload<'_> {
    Payload::Bytes(bytemuck::cast_slice(v))
}

/// Encode strings as a string table.
pub fn strings<S: AsRef<str>>(items: &[S]) -> Payload<'static> {
    let total: usize = items.iter().map(|s| s.as_ref().len()).sum();
    let mut out = Vec::with_capacity(4 + 4 * (items.len() + 1) + total);
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    let mut at = 0u32;
    out.extend_from_slice(&at.to_le_bytes());
    for s in items {
        at += s.as_ref().len() as u32;
        out.extend_from_slice(&at.to_le_bytes());
    }
    for s in items {
        out.extend_from_slice(s.as_ref().as_bytes());
    }
    Payload::Owned(out)
}

/// Write a model file from its sections. The writer must be seekable: the
/// checksum is written last, into the header.
pub fn write<W: Write + Seek>(out: &mut W, sections: &[(Kind, Payload<'_>)]) -> io::Result<u64> {
    let table_end = HEADER_LEN + ENTRY_LEN * sections.len();
    let mut offsets = Vec::with_capacity(sections.len());
    let mut at = align(table_end);
    for (_, p) in sections {
        offsets.push(at);
        at = align(at + p.bytes().len());
    }
    let file_len = at as u64;

    let mut header = Vec::with_capacity(align(table_end));
    header.extend_from_slice(MAGIC);
    let version = sections.iter().map(|(k, _)| k.since()).max().unwrap_or(1);
    header.extend_from_slice(&version.to_le_bytes());
    header.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    header.extend_from_slice(&file_len.to_le_bytes());
    header.resize(HEADER_LEN, 0);
    for ((kind, p), off) in sections.iter().zip(&offsets) {
        header.extend_from_slice(&(*kind as u32).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&(*off as u64).to_le_bytes());
        header.extend_from_slice(&(p.bytes().len() as u64).to_le_bytes());
    }
    header.resize(align(table_end), 0);

    let start = out.stream_position()?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    out.write_all(&header)?;
    let zeros = [0u8; ALIGN];
    for (_, p) in sections {
        let b = p.bytes();
        crc.update(b);
        out.write_all(b)?;
        let pad = &zeros[..align(b.len()) - b.len()];
        crc.update(pad);
        out.write_all(pad)?;
    }
    out.seek(SeekFrom::Start(start + CHECKSUM_AT as u64))?;
    out.write_all(&crc.finalize().to_le_bytes())?;
    out.seek(SeekFrom::Start(start + file_len))?;
    Ok(file_len)
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// A verified, mapped model file.
#[derive(Debug)]
pub struct ModelFile {
    path: PathBuf,
    map: Mmap,
    sections: [Range<usize>; KIND_SLOTS],
    present: [bool; KIND_SLOTS],
    dims: Dims,
}

/// What a file that is not a regular one is, for an error.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

impl ModelFile {
    /// Map and verify `path`: length, magic, version, checksum and every
    /// structural invariant the accessors rely on.
    pub fn open(path: &Path) -> Result<ModelFile, ModelError> {
        let io_err = |source| ModelError::Io {
            path: path.to_owned(),
            source,
        };
        // Without blocking on a FIFO's open; anything but a regular file
        // (a device, a FIFO, a socket, through a symlink or not) is refused
        // before a byte is read.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.file_type().is_file() {
            return Err(ModelError::Invalid {
                path: path.to_owned(),
                what: format!("not a regular file ({})", file_kind(&meta.file_type())),
            });
        }
        let len = meta.len();
        if len < HEADER_LEN as u64 {
            // Too short for a header: tell a foreign file from a truncated one.
            let mut head = Vec::new();
            io::Read::read_to_end(&mut &file, &mut head).map_err(io_err)?;
            if head.len() >= MAGIC.len() && &head[..MAGIC.len()] == MAGIC
                || MAGIC.starts_with(&head)
            {
                return Err(ModelError::Truncated {
                    path: path.to_owned(),
                    expected: HEADER_LEN as u64,
                    actual: len,
                });
            }
            return Err(ModelError::Foreign {
                path: path.to_owned(),
            });
        }
        // SAFETY: published model files are never written again (a new
        // version is a new file, renamed into place), so the mapping does not
        // change under us; a file shorter than its header claims is refused
        // below before any section is read.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        Self::verify(path.to_owned(), map)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dims(&self) -> Dims {
        self.dims
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A section's bytes; empty for an optional section the file lacks.
    pub fn bytes(&self, kind: Kind) -> &[u8] {
        &self.map[self.sections[kind as usize].clone()]
    }

    /// Whether the file holds `kind` (always, for the required ones).
    pub fn has(&self, kind: Kind) -> bool {
        self.present[kind as usize]
    }

    // Sections start 8-aligned in a page-aligned mapping and their lengths
    // were checked in `open`, so these casts cannot fail.
    pub fn f32s(&self, kind: Kind) -> &[f32] {
        bytemuck::cast_slice(self.bytes(kind))
    }

    pub fn u32s(&self, kind: Kind) -> &[u32] {
        bytemuck::cast_slice(self.bytes(kind))
    }

    pub fn u64s(&self, kind: Kind) -> &[u64] {
        bytemuck::cast_slice(self.bytes(kind))
    }

    pub fn strings(&self, kind: Kind) -> Strings<'_> {
        let b = self.bytes(kind);
        let n = u32_at(b, 0) as usize;
        Strings {
            offsets: bytemuck::cast_slice(&b[4..4 + 4 * (n + 1)]),
            text: &b[4 + 4 * (n + 1)..],
        }
    }
}

/// A verified string table.
#[derive(Clone, Copy)]
pub struct Strings<'a> {
    offsets: &'a [u32],
    text: &'a [u8],
}

impl<'a> Strings<'a> {
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> &'a str {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            // Checked to be UTF-8 at open.
            (Some(&a), Some(&b)) => {
                std::str::from_utf8(&self.text[a as usize..b as usize]).unwrap_or("")
            }
            _ => "",
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

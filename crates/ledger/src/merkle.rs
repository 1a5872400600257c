//! RFC 6962 / RFC 9162 Merkle trees: hashing, an append-only in-memory tree,
//! inclusion and consistency proofs and their verification.
//!
//! Leaf hash `SHA-256(0x00 || data)`, node hash `SHA-256(0x01 || left || right)`;
//! the root of an empty tree is `SHA-256("")`. The tree keeps every complete
//! subtree hash, so appends cost one node hash on average and a proof is a
//! handful of lookups.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl Hash {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
    /// From 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let s = s.trim();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Hash(out))
    }
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Why a proof or request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// An index or size beyond the tree.
    #[error("index {index} is not below size {size}")]
    OutOfRange {
        /// The index or first size.
        index: u64,
        /// The size.
        size: u64,
    },
    /// A proof with the wrong number of hashes.
    #[error("proof has {got} hashes, expected {expected}")]
    Length {
        /// Hashes given.
        got: usize,
        /// Hashes expected.
        expected: usize,
    },
    /// The proof leads to another root.
    #[error("proof does not lead to the root")]
    RootMismatch,
    /// Hashes under leaf `index` were dropped from a compact tree and not
    /// supplied ([`Tree::view_with`]).
    #[error("the hashes of the block holding leaf {index} are not in memory; supply its leaves")]
    Pruned {
        /// A leaf of the block needed.
        index: u64,
    },
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// An append-only Merkle tree in memory.
///
/// A tree made with [`Tree::compact`] keeps, below level `bits`, only the
/// hashes of the last incomplete block of 2^`bits` leaves: memory is two
/// hashes per 2^`bits` leaves instead of two per leaf, so a ledger that
/// grows for years does not grow its process. Roots and proofs that need
/// hashes inside an older block take that block's leaf hashes from the
/// caller ([`Tree::view_with`]); without them they are refused with
/// [`ProofError::Pruned`].
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][i]` is the hash of the complete subtree of 2^k leaves
    /// starting at i·2^k; below level `bits`, at (i + pruned / 2^k)·2^k.
    levels: Vec<Vec<Hash>>,
    /// Levels below this one are kept for the last incomplete block only (0: all kept).
    bits: u32,
    /// Leaves whose low levels were dropped (a multiple of 2^`bits`).
    pruned: u64,
}

/// Leaf hashes of one block, supplied for a proof that needs them: the
/// index of the first leaf, and the block as a tree of its own.
#[derive(Debug, Clone)]
struct Block {
    start: u64,
    tree: Tree,
}

impl Tree {
    /// An empty tree that keeps every hash.
    pub fn new() -> Self {
        Tree {
            levels: vec![Vec::new()],
            bits: 0,
            pruned: 0,
        }
    }

    /// An empty tree that keeps, below level `bits` (at most 32), only the
    /// last incomplete block of 2^`bits` leaves.
    pub fn compact(bits: u32) -> Self {
        Tree {
            levels: vec![Vec::new()],
            bits: bits.min(32),
            pruned: 0,
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.pruned + self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The first leaf whose hashes below level `bits` are still held.
    pub fn held_from(&self) -> u64 {
        self.pruned
    }

    /// The leaves of a block of 2^`bits` (the block containing `index`):
    /// `[start, end)`, clipped to the tree.
    pub fn block_of(&self, index: u64) -> (u64, u64) {
        if self.bits == 0 {
            return (0, self.size());
        }
        let width = 1u64 << self.bits;
        let start = index - index % width;
        (start, start.saturating_add(width).min(self.size()))
    }

    /// Appends a leaf by its data.
    pub fn push(&mut self, data: &[u8]) {
        self.push_hash(leaf_hash(data));
    }

    /// Appends a leaf by its hash.
    pub fn push_hash(&mut self, leaf: Hash) {
        let mut level = 0usize;
        let mut hash = leaf;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(hash);
            let n = row.len();
            if n % 2 == 1 {
                break;
            }
            let (Some(l), Some(r)) = (row.get(n - 2), row.get(n - 1)) else {
                return;
            };
            hash = node_hash(l, r);
            level += 1;
        }
        // A block just completed: its hash is at level `bits`; the levels
        // below hold nothing else (the rows' offsets stay even, so pairing
        // by row length is unchanged).
        if self.bits > 0 {
            let width = 1u64 << self.bits;
            let held = self.levels.first().map_or(0, |l| l.len() as u64);
            if held == width {
                for row in self.levels.iter_mut().take(self.bits as usize) {
                    row.clear();
                }
                self.pruned += width;
            }
        }
    }

    /// The leaf hash at `index` (`None` beyond the tree or pruned).
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.node(0, index)
    }

    /// The hash of the complete subtree of 2^`k` leaves starting at `start`.
    fn node(&self, k: u32, start: u64) -> Option<Hash> {
        let row = self.levels.get(k as usize)?;
        let mut i = start >> k;
        if k < self.bits {
            i = i.checked_sub(self.pruned >> k)?;
        }
        row.get(usize::try_from(i).ok()?).copied()
    }

    /// The hash of leaves `[start, end)`, where `start` is a multiple of the
    /// largest power of two not above `end - start` (as in every RFC 6962
    /// split). `edge` holds precomputed hashes of ranges ending at `end`;
    /// `block`, leaf hashes supplied for a pruned block. `None`: a hash
    /// needed was pruned and not supplied.
    fn range(
        &self,
        start: u64,
        end: u64,
        edge: &[(u64, Hash)],
        block: Option<&Block>,
    ) -> Option<Hash> {
        let n = end - start;
        if n == 0 {
            return Some(empty_root());
        }
        if n.is_power_of_two()
            && start.is_multiple_of(n)
            && let Some(h) = self.node(n.trailing_zeros(), start)
        {
            return Some(h);
        }
        if let Ok(i) = edge.binary_search_by_key(&start, |(s, _)| *s)
            && let Some((_, h)) = edge.get(i)
        {
            return Some(*h);
        }
        if let Some(b) = block
            && start >= b.start
            && end <= b.start + b.tree.size()
        {
            return b.tree.range(start - b.start, end - b.start, &[], None);
        }
        if n == 1 {
            return None;
        }
        let k = split(n);
        Some(node_hash(
            &self.range(start, start + k, &[], block)?,
            &self.range(start + k, end, edge, block)?,
        ))
    }

    /// Hashes of the incomplete subtrees on the right edge of the tree of
    /// `size` leaves, `[s, size)` for each `s` where a complete subtree of the
    /// binary decomposition of `size` begins; sorted by `s`. There are at most
    /// 64, computed with one node hash each.
    fn right_edge(&self, size: u64, block: Option<&Block>) -> Result<Vec<(u64, Hash)>, ProofError> {
        let mut starts = Vec::new();
        let mut s = 0u64;
        for bit in (0..64).rev() {
            let w = 1u64 << bit;
            if size & w != 0 {
                starts.push((s, w));
                s += w;
            }
        }
        let mut edge: Vec<(u64, Hash)> = Vec::with_capacity(starts.len());
        let mut acc: Option<Hash> = None;
        for &(start, width) in starts.iter().rev() {
            let complete = self
                .range(start, start + width, &[], block)
                .ok_or(ProofError::Pruned { index: start })?;
            let h = match acc {
                None => complete,
                Some(right) => node_hash(&complete, &right),
            };
            edge.push((start, h));
            acc = Some(h);
        }
        edge.reverse();
        Ok(edge)
    }

    /// The root of the first `size` leaves (of a compact tree: `size` in
    /// the last block, or a multiple of the block).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        Ok(self.view(size)?.root())
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        let size = self.size();
        // The right edge of the current size lies in held hashes: complete
        // blocks at level `bits` and above, the last block below it.
        self.right_edge(size, None)
            .ok()
            .and_then(|edge| self.range(0, size, &edge, None))
            .unwrap_or_else(empty_root)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.view(size)?.inclusion_proof(index)
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        self.view(new)?.consistency_proof(old)
    }

    /// The tree as it was at `size` leaves, with its right edge precomputed:
    /// serving many proofs against one checkpoint costs one view.
    pub fn view(&self, size: u64) -> Result<View<'_>, ProofError> {
        self.make_view(size, None)
    }

    /// The same, with the leaf hashes of one block supplied from storage
    /// (`leaves` are those of [`Tree::block_of`]`(first)`, from its start):
    /// for proofs about a pruned block of a compact tree.
    pub fn view_with(
        &self,
        size: u64,
        first: u64,
        leaves: &[Hash],
    ) -> Result<View<'_>, ProofError> {
        let mut tree = Tree::new();
        for h in leaves {
            tree.push_hash(*h);
        }
        self.make_view(size, Some(Block { start: first, tree }))
    }

    fn make_view(&self, size: u64, block: Option<Block>) -> Result<View<'_>, ProofError> {
        if size > self.size() {
            return Err(ProofError::OutOfRange {
                index: size,
                size: self.size(),
            });
        }
        let edge = self.right_edge(size, block.as_ref())?;
        Ok(View {
            tree: self,
            size,
            edge,
            block,
        })
    }
}

/// A tree at one size, ready to serve proofs.
#[derive(Debug, Clone)]
pub struct View<'a> {
    tree: &'a Tree,
    size: u64,
    edge: Vec<(u64, Hash)>,
    block: Option<Block>,
}

impl View<'_> {
    /// The size of this view.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root at this size.
    pub fn root(&self) -> Hash {
        // The edge holds `[0, size)` itself (or the size is 0).
        self.range(0, self.size).unwrap_or_else(empty_root)
    }

    fn range(&self, start: u64, end: u64) -> Option<Hash> {
        let edge: &[(u64, Hash)] = if end == self.size { &self.edge } else { &[] };
        self.tree.range(start, end, edge, self.block.as_ref())
    }

    fn needed(&self, start: u64, end: u64) -> Result<Hash, ProofError> {
        self.range(start, end)
            .ok_or(ProofError::Pruned { index: start })
    }

    /// The inclusion proof of leaf `index`.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, ProofError> {
        let size = self.size;
        if index >= size {
            return Err(ProofError::OutOfRange { index, size });
        }
        let mut proof = Vec::new();
        let (mut start, mut end, mut m) = (0u64, size, index);
        while end - start > 1 {
            let k = split(end - start);
            if m < k {
                proof.push(self.needed(start + k, end)?);
                end = start + k;
            } else {
                proof.push(self.needed(start, start + k)?);
                start += k;
                m -= k;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// The consistency proof from the tree of `old` leaves to this one.
    pub fn consistency_proof(&self, old: u64) -> Result<Vec<Hash>, ProofError> {
        let new = self.size;
        if old > new {
            return Err(ProofError::OutOfRange {
                index: old,
                size: new,
            });
        }
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        let mut proof = Vec::new();
        let (mut start, mut end, mut m, mut whole) = (0u64, new, old, true);
        while m != end - start {
            let k = split(end - start);
            if m <= k {
                proof.push(self.needed(start + k, end)?);
                end = start + k;
            } else {
                proof.push(self.needed(start, start + k)?);
                start += k;
                m -= k;
                whole = false;
            }
        }
        if !whole {
            proof.push(self.needed(start, end)?);
        }
        proof.reverse();
        Ok(proof)
    }
}

/// Walks a proof path as RFC 9162 §2.1.3.2 and §2.1.4.2 do, from the node
/// numbers `fn_` (first) and `sn` (last): tells `step` each hash and whether
/// it is a left sibling (hashed before the running value). Refuses paths
/// with too many or too few hashes.
fn walk(
    mut fn_: u64,
    mut sn: u64,
    proof: &[Hash],
    mut step: impl FnMut(&Hash, bool),
) -> Result<(), ProofError> {
    for (used, p) in proof.iter().enumerate() {
        if sn == 0 {
            return Err(ProofError::Length {
                got: proof.len(),
                expected: used,
            });
        }
        let left = fn_ & 1 == 1 || fn_ == sn;
        step(p, left);
        if left && fn_ & 1 == 0 {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Length {
            got: proof.len(),
            expected: proof.len() + 1,
        });
    }
    Ok(())
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let mut r = *leaf;
    walk(index, size - 1, proof, |p, left| {
        r = if left {
            node_hash(p, &r)
        } else {
            node_hash(&r, p)
        };
    })?;
    if r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verifies that the tree of `new_size` with `new_root` extends the tree of
/// `old_size` with `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OutOfRange {
            index: old_size,
            size: new_size,
        });
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else if !proof.is_empty() {
            Err(ProofError::Length {
                got: proof.len(),
                expected: 0,
            })
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::Length {
                got: proof.len(),
                expected: 0,
            })
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (first, rest) = path.split_first().ok_or(ProofError::Length {
        got: 0,
        expected: 1,
    })?;
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    // `rest` is the proof less one hash, plus the old root when it was pushed.
    let pushed = path.len() - proof.len();
    walk(fn_, sn, rest, |c, left| {
        if left {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    })
    .map_err(|e| match e {
        ProofError::Length { expected, .. } => ProofError::Length {
            got: proof.len(),
            expected: (expected + 1).saturating_sub(pushed),
        },
        other => other,
    })?;
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

import Foundation

/// Recycles large fp32 buffers (``FloatBuffer``s of ≥ ``minimumBytes``) between layers, so the forward pass
/// reuses pages that are already mapped instead of asking the kernel for new ones.
///
/// Why: glibc serves allocations above its mmap threshold (≤ 32 MiB) with fresh anonymous mappings, and the
/// kernel zeroes every page on first touch. At the 12B widths a layer evaluation over 8 × 512 token rows
/// allocates ≈ 0.9 GB of scratch (in_proj output [R, 22,656], conv/scan buffers, the MLP's [R, 20,480]), so
/// without reuse a ranking round spends a sizeable share of its time in page faults and page zeroing
/// (`PruneKitBench ranking` prints the round's system time and page faults).
///
/// The pool keeps freed buffers up to ``capacityBytes`` in total (larger ones are freed, largest first) and
/// hands out the smallest kept buffer with room for the request but at most twice its size. Contents of a
/// reused buffer are whatever its last user left, as with `malloc`: callers that need zeros ask for them.
/// Thread-safe.
public final class ScratchPool: @unchecked Sendable {
    public static let shared = ScratchPool()

    /// Buffers below this size (bytes) go straight to `malloc`, which already recycles them.
    public let minimumBytes = 1 << 20
    /// The most bytes kept for reuse (default 1 GiB: one layer's scratch at the 12B widths and 8 × 512 rows).
    /// The process's resident memory can exceed what it uses at one time by up to this much.
    public var capacityBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return capacity }
        set { lock.lock(); capacity = max(0, newValue); trim(to: capacity); lock.unlock() }
    }

    private let lock = NSLock()
    private var capacity = 1 << 30
    private var kept: [(floats: Int, p: UnsafeMutablePointer<Float>)] = []
    private var heldBytes = 0
    /// Requests served from the pool and from `malloc` (for the benchmark's report).
    public private(set) var reused = 0, allocated = 0

    /// A buffer of at least `count` floats: (base, capacity in floats).
    func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let n = max(count, 1)
        guard n * 4 >= minimumBytes else { return (.allocate(capacity: n), n) }
        lock.lock()
        var best = -1
        for (i, b) in kept.enumerated() where b.floats >= n && b.floats <= 2 * n && (best < 0 || b.floats < kept[best].floats) { best = i }
        if best >= 0 {
            let b = kept.remove(at: best)
            heldBytes -= b.floats * 4; reused += 1
            lock.unlock()
            return (b.p, b.floats)
        }
        allocated += 1
        lock.unlock()
        return ScratchPool.allocateLarge(n)
    }

    /// A new large buffer: whole 2 MiB units, 2 MiB-aligned and marked for transparent huge pages (the
    /// products stream through hundreds of MB of activations; 2 MiB pages cut page faults and TLB misses).
    /// Freed with `free`.
    private static func allocateLarge(_ n: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let unit = 2 << 20
        let bytes = (n * 4 + unit - 1) / unit * unit
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, unit, bytes) == 0, let raw else { fatalError("out of memory allocating \(bytes) bytes") }
        _ = madvise(raw, bytes, Int32(MADV_HUGEPAGE))
        return (raw.bindMemory(to: Float.self, capacity: bytes / 4), bytes / 4)
    }

    /// Returns a buffer from ``take(_:)``; kept for reuse while the pool has room.
    func give(_ p: UnsafeMutablePointer<Float>, floats: Int) {
        guard floats * 4 >= minimumBytes else { p.deallocate(); return }
        lock.lock(); defer { lock.unlock() }
        guard floats * 4 <= capacity else { free(p); return }
        kept.append((floats, p)); heldBytes += floats * 4
        trim(to: capacity)
    }

    /// Frees every kept buffer.
    public func drain() { lock.lock(); trim(to: 0); lock.unlock() }

    private func trim(to limit: Int) {
        while heldBytes > limit, let i = kept.indices.max(by: { kept[$0].floats < kept[$1].floats }) {
            let b = kept.remove(at: i)
            heldBytes -= b.floats * 4
            free(b.p)
        }
    }
}
